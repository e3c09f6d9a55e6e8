/**
 * The kernel fast path's tables: the interface the forwarder drives, and its nftables implementation
 * through libnftables in this process (kernel-forward-plan.ts makes the batches).
 *
 * The nftables table carries `flags owner` (Linux 5.12+): it belongs to the netlink socket of OUR
 * libnftables context, which lives exactly as long as the agent process; when the agent dies (even by
 * SIGKILL) the kernel closes that socket and deletes the table, so no forwarding rule outlives the relay
 * that decides who is bound. Only the owner may change an owned table (checked on nft 1.0.6 / Linux 6.x:
 * `nft add chain` from another process gets EPERM), so every change goes through this one context;
 * other processes can still list it. The agent's firewall (agent/src/fw/nft-lib.ts) has its own context.
 */
import { ConegateError } from '../../errors.ts';
import type { Endpoint } from '../../wg/ports.ts';
import type { NftRunner } from '../../fw/nft-lib.ts';
import {
  parseCounters, planBatch, planRemove, unmapV4, type CounterReading, type KernelForwardParams, type KernelPair,
} from './kernel-forward-plan.ts';

export interface KernelForwardTable {
  /**
   * Makes the kernel hold exactly these pairs for a relay at `relay` (its local IPv4 address and port),
   * in one transaction; rejects when refused (nothing changed).
   */
  apply(pairs: readonly KernelPair[], relay: Endpoint): Promise<void>;
  /** Counter readings by name (kernel-forward-plan.ts counterNames). */
  readCounters(): Promise<Map<string, CounterReading>>;
  /** The pairs as the kernel holds them (read back): for checks and the compliance suite. */
  installed(): Promise<KernelPair[]>;
  /** Removes the table. Idempotent. */
  close(): Promise<void>;
}

export class NftKernelTable implements KernelForwardTable {
  /** What the kernel holds (undefined: nothing loaded yet, or unknown after a failure). */
  private current: Map<number, KernelPair> | undefined;
  private loadedFor = '';
  private loaded = false;

  constructor(
    private readonly table: string,
    private readonly runner: NftRunner,
    private readonly limit: { packetsPerSec?: number; packetsBurst?: number } = {},
  ) {}

  async apply(pairs: readonly KernelPair[], relay: Endpoint): Promise<void> {
    const params: KernelForwardParams = { table: this.table, relayAddress: unmapV4(relay.address), relayPort: relay.port, ...this.limit };
    const key = `${params.relayAddress}:${params.relayPort}`;
    // The relay's address is in the base rule: a new one restates the table.
    const before = this.loaded && this.loadedFor === key ? this.current : undefined;
    try {
      const batch = planBatch(params, pairs, before);
      if (batch) this.runner.run(batch);
    } catch (err) {
      if (!before) throw err;
      // The table may be gone or differ from what we think (someone deleted it): state it from nothing.
      this.current = undefined;
      this.runner.run(planBatch(params, pairs, undefined));
    }
    this.loaded = true;
    this.loadedFor = key;
    this.current = new Map(pairs.map((p) => [p.vni, { vni: p.vni, sources: [{ ...p.sources[0] }, { ...p.sources[1] }] }]));
  }

  async readCounters(): Promise<Map<string, CounterReading>> {
    if (!this.loaded) return new Map();
    return parseCounters(this.runner.run(`list counters table ip ${this.table}`));
  }

  async installed(): Promise<KernelPair[]> {
    if (!this.loaded) return [];
    return parseInstalled(this.runner.run(`list map ip ${this.table} pre_map`), this.runner.run(`list map ip ${this.table} post_map`));
  }

  async close(): Promise<void> {
    if (this.loaded) {
      try {
        this.runner.run(planRemove(this.table));
      } catch {
        // Closing the context below deletes an owned table anyway.
      }
    }
    this.loaded = false;
    this.current = undefined;
    this.runner.close();
  }
}

/**
 * Reads the pairs back from the two maps: `post_map` has (source, destination) per direction; a pair
 * counts as installed when both directions are in both maps.
 */
export function parseInstalled(preMap: string, postMap: string): KernelPair[] {
  const pre = new Set([...preMap.matchAll(/(\d+\.\d+\.\d+\.\d+) \. (\d+) : goto (v[0-9a-f]{6}_pre[01])/g)].map((m) => `${m[1]}:${m[2]}>${m[3]}`));
  const dirs = new Map<number, { from: Endpoint; to: Endpoint }[]>();
  for (const m of postMap.matchAll(/(\d+\.\d+\.\d+\.\d+) \. (\d+) \. (\d+\.\d+\.\d+\.\d+) \. (\d+) : goto v([0-9a-f]{6})_post([01])/g)) {
    const vni = parseInt(m[5]!, 16);
    const dir = Number(m[6]);
    if (!pre.has(`${m[1]}:${m[2]}>v${m[5]}_pre${dir}`)) continue;
    const d = dirs.get(vni) ?? [];
    d[dir] = { from: { address: m[1]!, port: Number(m[2]) }, to: { address: m[3]!, port: Number(m[4]) } };
    dirs.set(vni, d);
  }
  const out: KernelPair[] = [];
  for (const [vni, d] of dirs) if (d[0] && d[1]) out.push({ vni, sources: [d[0].from, d[0].to] });
  return out.sort((a, b) => a.vni - b.vni);
}
