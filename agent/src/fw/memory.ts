/** In-memory PortMapBackend: the twin of nftables/pf for unit tests and `--backend memory`. */
import { ConegateError } from '../errors.ts';
import { planChanges, sortMappings, type PortMapBackend, type PortMapChange, type PortMapping } from './backend.ts';

export class MemoryBackend implements PortMapBackend {
  readonly name = 'memory';
  readonly owner: string;
  private rules = new Map<string, PortMapping>();
  /** Counts of calls (add/remove count changes, apply counts transactions), so tests can prove a retry or a skipped write did not hide. */
  readonly calls = { add: 0, remove: 0, apply: 0, list: 0, flush: 0 };
  /** When set, the next transaction that adds something fails (to test that the caller leaves state consistent). */
  failNextAdd = false;

  constructor(owner = 'conegate-pmpd') {
    this.owner = owner;
  }

  async apply(changes: PortMapChange[]): Promise<void> {
    this.calls.apply++;
    for (const c of changes) this.calls[c.op]++;
    const { next } = planChanges([...this.rules.values()], changes);
    if (this.failNextAdd && changes.some((c) => c.op === 'add')) {
      this.failNextAdd = false;
      throw new ConegateError('CG_FIREWALL_REJECTED', 'memory backend told to fail');
    }
    this.rules = new Map(next.map((m) => [m.id, m]));
  }

  add(m: PortMapping): Promise<void> {
    return this.apply([{ op: 'add', mapping: m }]);
  }

  remove(id: string): Promise<void> {
    return this.apply([{ op: 'remove', id }]);
  }

  async list(): Promise<PortMapping[]> {
    this.calls.list++;
    return sortMappings([...this.rules.values()].map((m) => structuredClone(m)));
  }

  async flush(): Promise<void> {
    this.calls.flush++;
    this.rules.clear();
  }

  /** Simulates someone else flushing the firewall behind our back. */
  externalFlush(): void {
    this.rules.clear();
  }
}
