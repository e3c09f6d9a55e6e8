/**
 * The UDP relay's kernel fast path, driven by the relay core: the pairs it reports bound
 * (server-core.ts onPairChange) are loaded into a KernelForwardTable (nftables, kernel-table.ts; the
 * memory twin in tests), counters are read on the relay's timer so a pair the kernel forwards stays
 * alive in the core and shows its packets in `status`.
 *
 * Nothing here can drop a pair: a datagram no kernel rule takes reaches the relay socket and the core
 * forwards it as before. So every failure degrades to userspace: a load the kernel refuses leaves the
 * pairs added since the last good load in userspace (with the reason); a pair whose packets match in
 * prerouting but never reach postrouting (a forward filter drops them) is taken out of the kernel; a
 * second failure of a load without new pairs turns the fast path off for this run.
 */
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Endpoint } from '../../wg/ports.ts';
import { KernelCounterTracker, pairIneligible, unmapV4, type KernelPair, type PairActivity } from './kernel-forward-plan.ts';
import type { KernelForwardTable } from './kernel-table.ts';

const RELAY_UNKNOWN = 'relay address not local (behind a port forward?) or not known yet';

export type KernelForwardMode = 'auto' | 'off';

export interface KernelForwardStatus {
  mode: KernelForwardMode;
  /** True while pairs can go through the kernel. */
  active: boolean;
  /** Why it is off (or "kernel forwarding"). */
  reason: string;
  /** Pairs the kernel forwards now. */
  pairs: number;
  /** Bound pairs kept in userspace, and why. */
  userspace: { vni: number; reason: string }[];
  packets: number;
  bytes: number;
}

export interface KernelPreconditions {
  platform: string;
  /** net.ipv4.ip_forward (undefined: unreadable). */
  ipForward: boolean | undefined;
  /** libnftables could be bound. */
  nftAvailable: boolean;
}

/** Pure: whether the fast path may run at all, and why not. */
export function kernelForwardDecision(mode: KernelForwardMode, pre: KernelPreconditions): { use: boolean; reason: string } {
  if (mode === 'off') return { use: false, reason: 'mesh.udpRelay.kernelForward is off' };
  if (pre.platform !== 'linux') return { use: false, reason: `no kernel fast path on ${pre.platform}` };
  if (!pre.nftAvailable) return { use: false, reason: 'libnftables not available (Debian: libnftables1)' };
  if (pre.ipForward !== true) return { use: false, reason: 'net.ipv4.ip_forward is not 1' };
  return { use: true, reason: 'kernel forwarding' };
}

/** The machine's facts for kernelForwardDecision. */
export function readPreconditions(nftAvailable: boolean): KernelPreconditions {
  let ipForward: boolean | undefined;
  try {
    ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
  } catch {
    ipForward = undefined;
  }
  return { platform: process.platform, ipForward, nftAvailable };
}

/**
 * The local IPv4 address the relay's clients send to: the listen address when it is one, else the
 * advertised address when this machine holds it. Behind a port forward the address packets arrive on
 * is not known here, so such a relay stays in userspace.
 */
export function localRelayAddress(listen: string | undefined, advertised: string | undefined, local: ReadonlySet<string> = localV4Addresses()): string | undefined {
  if (listen && listen !== '0.0.0.0' && listen !== '::' && local.has(unmapV4(listen))) return unmapV4(listen);
  if (advertised && local.has(unmapV4(advertised))) return unmapV4(advertised);
  return undefined;
}

function localV4Addresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.add(a.address);
  return out;
}

export interface KernelForwarderDeps {
  table: KernelForwardTable | undefined;
  mode: KernelForwardMode;
  decision: { use: boolean; reason: string };
  /** Where clients reach the relay, as a local address and port; undefined while not known. */
  relay(): Endpoint | undefined;
  log?: (msg: string) => void;
}

export class KernelForwarder {
  private readonly wanted = new Map<number, KernelPair>();
  private readonly userspace = new Map<number, string>();
  private applied = new Set<number>();
  private readonly tracker = new KernelCounterTracker();
  private active: boolean;
  private reason: string;
  private running: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly deps: KernelForwarderDeps) {
    this.active = deps.decision.use && deps.table !== undefined;
    this.reason = deps.decision.use && !deps.table ? 'libnftables not available' : deps.decision.reason;
  }

  /** The core's onPairChange: both sides bound (sources), or the pair ended (undefined). */
  setPair(vni: number, sources: [Endpoint, Endpoint] | undefined): void {
    if (sources) this.wanted.set(vni, { vni, sources });
    else this.wanted.delete(vni);
    // A rebind gets a fresh try in the kernel (a new source may well load where the old did not).
    this.userspace.delete(vni);
    this.schedule();
  }

  /** Loads pending changes; resolves when the kernel holds the latest wanted state (or has given up). */
  settle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Reads counters: the pairs whose data the kernel forwarded since the last poll. */
  async poll(): Promise<PairActivity | undefined> {
    if (!this.active || !this.deps.table) return undefined;
    // Pairs that waited for the relay's address (STUN not done yet at bind time) load once it is known.
    if (!this.running && [...this.wanted.keys()].some((v) => !this.applied.has(v) && !this.userspace.has(v)) && this.deps.relay()) this.schedule();
    if (this.applied.size === 0) return undefined;
    let readings;
    try {
      readings = await this.deps.table.readCounters();
    } catch (err) {
      this.deps.log?.(`udp relay: kernel counters unreadable: ${(err as Error).message}`);
      return undefined;
    }
    const act = this.tracker.update([...this.applied], readings);
    for (const vni of act.blackholed) {
      this.userspace.set(vni, 'packets matched in prerouting never reached postrouting (a forward filter drops them?)');
      this.schedule();
    }
    return act;
  }

  status(): KernelForwardStatus {
    const userspace = [...this.wanted.keys()].filter((v) => !this.applied.has(v)).map((vni) => ({ vni, reason: this.userspace.get(vni) ?? (!this.active ? this.reason : this.deps.relay() ? 'loading' : RELAY_UNKNOWN) }));
    return {
      mode: this.deps.mode, active: this.active, reason: this.reason, pairs: this.applied.size, userspace,
      packets: this.tracker.packets, bytes: this.tracker.bytes,
    };
  }

  async close(): Promise<void> {
    this.active = false;
    this.wanted.clear();
    await this.running;
    this.applied = new Set();
    await this.deps.table?.close();
  }

  private schedule(): void {
    if (!this.active) return;
    this.dirty = true;
    this.running ??= (async () => {
      // Binds handled in the same turn of the event loop (a burst after a relay restart) share one load.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.dirty && this.active) {
        this.dirty = false;
        await this.load();
      }
      this.running = undefined;
    })();
  }

  private desired(): KernelPair[] {
    const out: KernelPair[] = [];
    for (const p of this.wanted.values()) {
      if (this.userspace.has(p.vni)) continue;
      const why = pairIneligible(p);
      if (why) this.userspace.set(p.vni, why);
      else out.push(p);
    }
    return out;
  }

  private async load(): Promise<void> {
    const table = this.deps.table!;
    const relay = this.deps.relay();
    if (!relay) return;
    const want = this.desired();
    try {
      await table.apply(want, relay);
      this.applied = new Set(want.map((p) => p.vni));
      return;
    } catch (err) {
      const msg = (err as Error).message;
      const fresh = want.filter((p) => !this.applied.has(p.vni));
      this.deps.log?.(`udp relay: kernel fast path load refused (${fresh.length} new pairs stay in userspace): ${msg}`);
      for (const p of fresh) this.userspace.set(p.vni, `nft refused: ${msg}`);
      const kept = want.filter((p) => this.applied.has(p.vni));
      try {
        await table.apply(kept, relay);
        this.applied = new Set(kept.map((p) => p.vni));
      } catch (again) {
        this.active = false;
        this.reason = `kernel fast path off after a refused load: ${(again as Error).message}`;
        this.applied = new Set();
        this.deps.log?.(`udp relay: ${this.reason}`);
        await table.close().catch(() => undefined);
      }
    }
  }
}
