/** In-memory PortMapBackend: the twin of nftables/pf for unit tests and `--backend memory`. */
import { ConegateError } from '../errors.ts';
import { checkMapping, sortMappings, type PortMapBackend, type PortMapping } from './backend.ts';

export class MemoryBackend implements PortMapBackend {
  readonly name = 'memory';
  readonly owner: string;
  private readonly rules = new Map<string, PortMapping>();
  /** Counts of calls, so tests can prove a retry or a skipped write did not hide. */
  readonly calls = { add: 0, remove: 0, list: 0, flush: 0 };
  /** When set, the next add() fails (to test that the caller leaves state consistent). */
  failNextAdd = false;

  constructor(owner = 'conegate-pmpd') {
    this.owner = owner;
  }

  async add(m: PortMapping): Promise<void> {
    this.calls.add++;
    checkMapping(m);
    if (this.failNextAdd) {
      this.failNextAdd = false;
      throw new ConegateError('CG_FIREWALL_REJECTED', 'memory backend told to fail');
    }
    for (const other of this.rules.values()) {
      if (other.id !== m.id && other.transport === m.transport && other.externalPort === m.externalPort && other.externalAddress === m.externalAddress) {
        throw new ConegateError('CG_FIREWALL_REJECTED', `external port ${m.transport}/${m.externalPort} already mapped`);
      }
    }
    this.rules.set(m.id, structuredClone(m));
  }

  async remove(id: string): Promise<void> {
    this.calls.remove++;
    this.rules.delete(id);
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
