/**
 * The UDP relay's kernel fast path, pure part: a bound pair (a VNI and the two bound sources) becomes
 * nftables rules that forward its WireGuard datagrams in the kernel, so they never reach Node.
 *
 * Per direction (side s -> side o), relay R:P:
 *   prerouting, priority raw: a datagram to R:P is looked up by its source in `pre_map`; s's bound
 *     source jumps to the pair's chain, which checks our header for WireGuard of this VNI (codec.ts:
 *     @th,64,32 = mark 0xCB | version 1, no flags | 0x7A12; @th,96,32 = VNI << 8 | reserved 0), drops
 *     what exceeds the per-side data limit, makes it untracked (no conntrack entry, no NAT) and rewrites
 *     its destination to o's bound source; routing then forwards it.
 *   postrouting: looked up by (source, destination) in `post_map` (source still s, destination now o),
 *     the pair's chain checks the header again and sets the source R:P, so o sees it from the relay it
 *     bound to. The source cannot be rewritten in prerouting: a local address as the source of an
 *     arriving packet is a martian and the kernel drops it.
 * nft fixes the IP and UDP checksums for header fields it rewrites, but a raw payload write gets no
 * checksum fix-up: so the header's "from relay" flag is NOT set on this path (the client accepts
 * WireGuard from its bound relay without it, see client.ts).
 * Control and discovery packets (other protocol codes), packets already marked "from relay" (flags byte),
 * and everything of an unbound pair never match: they stay in userspace (server-core.ts).
 *
 * A change touches only its pair, in one transaction (planBatch): with the whole table restated per
 * change, 1,000 pairs took 5 s of libnftables per change here; per pair it is tens of ms. IPv4 only in
 * this step: a pair with an IPv6 source stays in userspace.
 */
import { DecodeError } from '../../errors.ts';
import { parseIPv4 } from '../../net/ip.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { MARK, PROTOCOL_CODE, VERSION } from './codec.ts';

export const KERNEL_TABLE = 'conegate_udp_relay';

export interface KernelForwardParams {
  table: string;
  /** Local IPv4 address the clients send to, and the source of what the relay sends. */
  relayAddress: string;
  relayPort: number;
  /**
   * The core's data limit per bound side (packetsPerSec, burst): datagrams above it are dropped in the
   * kernel, as the core would drop them (undefined: no limit).
   */
  packetsPerSec?: number;
  packetsBurst?: number;
}

export interface KernelPair {
  vni: number;
  sources: [Endpoint, Endpoint];
}

export interface CounterReading {
  packets: number;
  bytes: number;
}

/** The 32 bits at payload offset 0: mark, version 1 with no flags, WireGuard. */
export const WG_HEADER_WORD = ((MARK << 24) | ((VERSION << 4) << 16) | PROTOCOL_CODE.wireguard) >>> 0;

/** ::ffff:a.b.c.d (a dual-stack socket's view) as a.b.c.d; anything else as is. */
export function unmapV4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function isV4(address: string): boolean {
  return parseIPv4(address) !== undefined;
}

/** Why a pair cannot go through the kernel (undefined: it can). */
export function pairIneligible(p: KernelPair): string | undefined {
  if (!p.sources.every((s) => isV4(unmapV4(s.address)))) return 'ipv6 source (kernel path is IPv4 only)';
  if (!p.sources.every((s) => Number.isInteger(s.port) && s.port > 0 && s.port < 65536)) return 'bad port';
  return undefined;
}

/** Counter names of a pair: pre (matched in prerouting) and post (reached postrouting), per direction. */
export function counterNames(vni: number): { pre: [string, string]; post: [string, string] } {
  const v = vni.toString(16).padStart(6, '0');
  return { pre: [`v${v}_pre0`, `v${v}_pre1`], post: [`v${v}_post0`, `v${v}_post1`] };
}

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

function chainNames(vni: number): { pre: [string, string]; post: [string, string] } {
  // Same names as the counters: chains and counters are separate namespaces in nftables.
  return counterNames(vni);
}

/** The table, its two base chains and the two dispatch maps (source -> the pair's chain). */
function setupCommands(prm: KernelForwardParams): string[] {
  const t = prm.table;
  return [
    // "flags owner": the kernel deletes the table when the netlink socket that made it closes (the agent
    // died), so no forwarding rule outlives the relay that decides who is bound.
    `add table ip ${t} { flags owner ; }`,
    `add chain ip ${t} pre { type filter hook prerouting priority raw ; policy accept ; }`,
    `add chain ip ${t} post { type filter hook postrouting priority srcnat ; policy accept ; }`,
    // One hash lookup per datagram whatever the number of pairs, and a pair is added or removed without
    // touching the others' rules (a change costs the same with 1 pair or 1,000).
    `add map ip ${t} pre_map { type ipv4_addr . inet_service : verdict ; }`,
    `add map ip ${t} post_map { type ipv4_addr . inet_service . ipv4_addr . inet_service : verdict ; }`,
    `add rule ip ${t} pre ip daddr ${prm.relayAddress} udp dport ${prm.relayPort} ip saddr . udp sport vmap @pre_map`,
    `add rule ip ${t} post ip saddr . udp sport . ip daddr . udp dport vmap @post_map`,
  ];
}

function directionAdd(prm: KernelForwardParams, vni: number, from: Endpoint, to: Endpoint, dir: 0 | 1, withCounters: boolean): string[] {
  const t = prm.table;
  const c = chainNames(vni);
  const a = unmapV4(from.address);
  const b = unmapV4(to.address);
  const match = `@th,64,32 ${hex32(WG_HEADER_WORD)} @th,96,32 ${hex32(vni << 8)}`;
  // The per-side data limit stays: a side sending above it loses the excess here, never reaching Node.
  const limit = prm.packetsPerSec
    ? [`add rule ip ${t} ${c.pre[dir]} ${match} limit rate over ${Math.ceil(prm.packetsPerSec)}/second burst ${Math.max(1, Math.ceil(prm.packetsBurst ?? prm.packetsPerSec))} packets drop`]
    : [];
  return [
    ...(withCounters ? [`add counter ip ${t} ${c.pre[dir]}`, `add counter ip ${t} ${c.post[dir]}`] : []),
    `add chain ip ${t} ${c.pre[dir]}`,
    `flush chain ip ${t} ${c.pre[dir]}`,
    ...limit,
    `add rule ip ${t} ${c.pre[dir]} ${match} notrack counter name "${c.pre[dir]}" ip daddr set ${b} udp dport set ${to.port}`,
    `add chain ip ${t} ${c.post[dir]}`,
    `flush chain ip ${t} ${c.post[dir]}`,
    `add rule ip ${t} ${c.post[dir]} ${match} counter name "${c.post[dir]}" ip saddr set ${prm.relayAddress} udp sport set ${prm.relayPort}`,
    `add element ip ${t} pre_map { ${a} . ${from.port} : goto ${c.pre[dir]} }`,
    `add element ip ${t} post_map { ${a} . ${from.port} . ${b} . ${to.port} : goto ${c.post[dir]} }`,
  ];
}

function directionElementsDelete(prm: KernelForwardParams, vni: number, from: Endpoint, to: Endpoint): string[] {
  const t = prm.table;
  const a = unmapV4(from.address);
  const b = unmapV4(to.address);
  return [`delete element ip ${t} pre_map { ${a} . ${from.port} }`, `delete element ip ${t} post_map { ${a} . ${from.port} . ${b} . ${to.port} }`];
}

function pairAdd(prm: KernelForwardParams, p: KernelPair, withCounters: boolean): string[] {
  return [...directionAdd(prm, p.vni, p.sources[0], p.sources[1], 0, withCounters), ...directionAdd(prm, p.vni, p.sources[1], p.sources[0], 1, withCounters)];
}

function pairElementsDelete(prm: KernelForwardParams, p: KernelPair): string[] {
  return [...directionElementsDelete(prm, p.vni, p.sources[0], p.sources[1]), ...directionElementsDelete(prm, p.vni, p.sources[1], p.sources[0])];
}

function pairDelete(prm: KernelForwardParams, p: KernelPair): string[] {
  const t = prm.table;
  const c = chainNames(p.vni);
  // Map elements first: a chain a verdict map still jumps to cannot be deleted.
  const chains = [...c.pre, ...c.post];
  return [
    ...pairElementsDelete(prm, p),
    ...chains.flatMap((n) => [`flush chain ip ${t} ${n}`, `delete chain ip ${t} ${n}`]),
    ...chains.map((n) => `delete counter ip ${t} ${n}`),
  ];
}

function samePair(a: KernelPair, b: KernelPair): boolean {
  const eq = (x: Endpoint, y: Endpoint): boolean => x.port === y.port && unmapV4(x.address) === unmapV4(y.address);
  return eq(a.sources[0], b.sources[0]) && eq(a.sources[1], b.sources[1]);
}

/**
 * One batch (one line: one transaction) that takes the table from `before` to exactly `pairs`. Only
 * the pairs that changed are touched: a new pair gets its counters, chains, rules and map elements; a
 * rebind (new source) swaps the pair's map elements and rewrites its rules (counters kept); a pair that
 * ended loses all of them. `before` undefined: the table is (re)created from nothing (first load, a
 * changed relay address, or after a batch failed on a table that vanished or differs).
 */
export function planBatch(prm: KernelForwardParams, pairs: readonly KernelPair[], before: ReadonlyMap<number, KernelPair> | undefined): string {
  const t = prm.table;
  const cmds: string[] = [];
  if (!before) {
    cmds.push(`add table ip ${t}`, `delete table ip ${t}`, ...setupCommands(prm));
    for (const p of pairs) cmds.push(...pairAdd(prm, p, true));
    return cmds.join(' ; ');
  }
  const next = new Map(pairs.map((p) => [p.vni, p]));
  for (const [vni, old] of before) if (!next.has(vni)) cmds.push(...pairDelete(prm, old));
  for (const p of pairs) {
    const old = before.get(p.vni);
    if (!old) cmds.push(...pairAdd(prm, p, true));
    else if (!samePair(old, p)) cmds.push(...pairElementsDelete(prm, old), ...pairAdd(prm, p, false));
  }
  return cmds.join(' ; ');
}

/** The batch that removes the table (stop). */
export function planRemove(table: string): string {
  return `add table ip ${table} ; delete table ip ${table}`;
}

/** `nft list counters table ip T` (text) -> name -> reading. */
export function parseCounters(text: string): Map<string, CounterReading> {
  const out = new Map<string, CounterReading>();
  const re = /counter\s+([A-Za-z0-9_]+)\s*\{\s*packets\s+(\d+)\s+bytes\s+(\d+)\s*\}/g;
  for (const m of text.matchAll(re)) {
    const packets = Number(m[2]);
    const bytes = Number(m[3]);
    if (!Number.isSafeInteger(packets) || !Number.isSafeInteger(bytes)) throw new DecodeError('nft counter out of range', { name: m[1] });
    out.set(m[1]!, { packets, bytes });
  }
  if (out.size === 0 && /\bcounter\b/.test(text)) throw new DecodeError('nft counters not understood');
  return out;
}

export interface PairActivity {
  /** Pairs whose kernel counters moved since the last reading (their idle clock restarts). */
  active: number[];
  /** Pairs whose packets matched in prerouting but none reached postrouting (dropped in between). */
  blackholed: number[];
  packets: number;
  bytes: number;
}

/**
 * Turns successive counter readings into activity per pair and running totals. Totals only grow: a
 * counter that went away or restarted from zero (table recreated) adds what it counted since.
 */
export const BLACKHOLE_MIN_PACKETS = 3;

export class KernelCounterTracker {
  private last = new Map<string, CounterReading>();
  packets = 0;
  bytes = 0;

  update(vnis: readonly number[], readings: ReadonlyMap<string, CounterReading>): PairActivity {
    const active: number[] = [];
    const blackholed: number[] = [];
    const next = new Map<string, CounterReading>();
    for (const vni of vnis) {
      const n = counterNames(vni);
      let pre = 0;
      let post = 0;
      for (const [names, isPre] of [[n.pre, true], [n.post, false]] as const) {
        for (const name of names) {
          const r = readings.get(name);
          if (!r) continue;
          next.set(name, r);
          const before = this.last.get(name);
          const dp = before && r.packets >= before.packets ? r.packets - before.packets : r.packets;
          const db = before && r.bytes >= before.bytes ? r.bytes - before.bytes : r.bytes;
          if (isPre) pre += dp;
          else {
            post += dp;
            this.packets += dp;
            this.bytes += db;
          }
        }
      }
      if (pre > 0 || post > 0) active.push(vni);
      // A few packets may be between the hooks at the moment of reading; a steady stream with none
      // through postrouting is a forward filter (or routing) dropping them.
      if (pre >= BLACKHOLE_MIN_PACKETS && post === 0) blackholed.push(vni);
    }
    this.last = next;
    return { active, blackholed, packets: this.packets, bytes: this.bytes };
  }
}
