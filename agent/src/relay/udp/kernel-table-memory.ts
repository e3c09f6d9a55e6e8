/**
 * The in-memory twin of the kernel fast path's table (kernel-table.ts): the same contract, checked by
 * the same compliance suite (kernel-table-compliance.ts), plus `forward()`, which does what the kernel
 * rules do to one datagram, so unit tests can run clients and a relay over it; and `refuseNext`, a load
 * the "kernel" refuses.
 */
import { ConegateError } from '../../errors.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { counterNames, pairIneligible, unmapV4, WG_HEADER_WORD, type CounterReading, type KernelPair } from './kernel-forward-plan.ts';
import type { KernelForwardTable } from './kernel-table.ts';

export class MemoryKernelTable implements KernelForwardTable {
  private pairs: KernelPair[] = [];
  private readonly counters = new Map<string, CounterReading>();
  /** Refuse the next N loads (nothing applied), as a kernel without the feature would. */
  refuseNext = 0;
  loads = 0;
  closed = false;

  private relay: Endpoint | undefined;

  async apply(pairs: readonly KernelPair[], relay: Endpoint): Promise<void> {
    if (this.refuseNext > 0) {
      this.refuseNext--;
      throw new ConegateError('CG_FIREWALL_REJECTED', 'nft refused the change (nothing applied): memory twin told to refuse');
    }
    // What nft refuses (a value that does not fit its field) the twin refuses too.
    const bad = pairs.find((p) => pairIneligible(p) !== undefined || p.vni < 0 || p.vni > 0xffffff);
    if (bad) throw new ConegateError('CG_FIREWALL_REJECTED', `nft refused the change (nothing applied): pair ${bad.vni} cannot be loaded`);
    this.loads++;
    this.relay = { ...relay };
    this.closed = false;
    this.pairs = pairs.map((p) => ({ vni: p.vni, sources: [{ ...p.sources[0] }, { ...p.sources[1] }] }));
    const keep = new Set(this.pairs.flatMap((p) => Object.values(counterNames(p.vni)).flat()));
    for (const k of [...this.counters.keys()]) if (!keep.has(k)) this.counters.delete(k);
    for (const k of keep) if (!this.counters.has(k)) this.counters.set(k, { packets: 0, bytes: 0 });
  }

  async readCounters(): Promise<Map<string, CounterReading>> {
    return new Map([...this.counters].map(([k, v]) => [k, { ...v }]));
  }

  async installed(): Promise<KernelPair[]> {
    return [...this.pairs].sort((a, b) => a.vni - b.vni);
  }

  async close(): Promise<void> {
    this.pairs = [];
    this.counters.clear();
    this.closed = true;
  }

  /** The datagram `b` from `from` to the relay: where the kernel sends it (source = the relay), or undefined (userspace). */
  forward(b: Uint8Array, from: Endpoint, to: Endpoint): Endpoint | undefined {
    if (!this.relay || to.port !== this.relay.port || unmapV4(to.address) !== unmapV4(this.relay.address) || b.length < 8) return undefined;
    const word = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    const vni = (b[4]! << 16) | (b[5]! << 8) | b[6]!;
    if (word !== WG_HEADER_WORD || b[7] !== 0) return undefined;
    const p = this.pairs.find((x) => x.vni === vni);
    if (!p) return undefined;
    const same = (e: Endpoint): boolean => e.port === from.port && unmapV4(e.address) === unmapV4(from.address);
    const dir = same(p.sources[0]) ? 0 : same(p.sources[1]) ? 1 : undefined;
    if (dir === undefined) return undefined;
    const n = counterNames(vni);
    for (const name of [n.pre[dir], n.post[dir]]) {
      const c = this.counters.get(name)!;
      c.packets++;
      c.bytes += b.length + 28;
    }
    return { ...p.sources[dir === 0 ? 1 : 0] };
  }
}
