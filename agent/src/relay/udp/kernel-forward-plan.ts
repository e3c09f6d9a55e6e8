/**
 * The UDP relay's kernel fast path, pure part: a bound pair (a VNI and the two bound sources) becomes
 * nftables rules that forward its WireGuard datagrams in the kernel, so they never reach Node.
 *
 * Per direction (side s -> side o), relay R:P:
 *   prerouting, priority raw: the datagram from s's bound source to R:P whose first 8 payload bytes are
 *     our header for WireGuard of this VNI (codec.ts: @th,64,32 = mark 0xCB | version 1, no flags | 0x7A12;
 *     @th,96,32 = VNI << 8 | reserved 0) is made untracked (no conntrack entry per relayed flow, no NAT)
 *     and its destination rewritten to o's bound source; routing then forwards it.
 *   postrouting: the same datagram (source still s, destination now o) gets the source R:P, so o sees it
 *     from the relay it bound to. The source cannot be rewritten in prerouting: a local address as the
 *     source of an arriving packet is a martian and the kernel drops it.
 * nft fixes the IP and UDP checksums for header fields it rewrites, but a raw payload write gets no
 * checksum fix-up: so the header's "from relay" flag is NOT set on this path (the client accepts
 * WireGuard from its bound relay without it, see client.ts).
 * Control and discovery packets (other protocol codes), packets already marked "from relay" (flags byte),
 * and everything of an unbound pair never match: they stay in userspace (server-core.ts).
 *
 * Each batch states the whole table (rules are flushed and re-added; named counters survive a flush), so
 * a rebind (new source) replaces the pair's rules and an expired pair's rules and counters go, in one
 * transaction. IPv4 only in this step: a pair with an IPv6 source stays in userspace.
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

function directionRules(t: string, prm: KernelForwardParams, vni: number, from: Endpoint, to: Endpoint, dir: 0 | 1): string[] {
  const names = counterNames(vni);
  const a = unmapV4(from.address);
  const b = unmapV4(to.address);
  const match = `@th,64,32 ${hex32(WG_HEADER_WORD)} @th,96,32 ${hex32(vni << 8)}`;
  const pre = `add rule ip ${t} pre ip daddr ${prm.relayAddress} udp dport ${prm.relayPort} ip saddr ${a} udp sport ${from.port} ${match}`;
  // The per-side data limit stays: a side sending above it loses the excess here, never reaching Node.
  const limit = prm.packetsPerSec
    ? [`${pre} limit rate over ${Math.ceil(prm.packetsPerSec)}/second burst ${Math.max(1, Math.ceil(prm.packetsBurst ?? prm.packetsPerSec))} packets drop`]
    : [];
  return [
    ...limit,
    `${pre} notrack counter name "${names.pre[dir]}" ip daddr set ${b} udp dport set ${to.port}`,
    `add rule ip ${t} post ip saddr ${a} udp sport ${from.port} ip daddr ${b} udp dport ${to.port} ${match} ` +
      `counter name "${names.post[dir]}" ip saddr set ${prm.relayAddress} udp sport set ${prm.relayPort}`,
  ];
}

/**
 * One batch (one line: one transaction) that makes the table hold exactly `pairs`. `installed`: counter
 * names of the last applied state (their pairs' counters are deleted when the pair is gone). `fresh`:
 * the table is (re)created from nothing (first load, or after a batch failed on a table that vanished).
 */
export function planBatch(prm: KernelForwardParams, pairs: readonly KernelPair[], installed: ReadonlySet<string>, fresh: boolean): { batch: string; counters: Set<string> } {
  const t = prm.table;
  const cmds: string[] = [];
  // "flags owner": the kernel deletes the table when the netlink socket that made it closes (the agent
  // died), so no forwarding rule outlives the relay that decides who is bound.
  if (fresh) cmds.push(`add table ip ${t}`, `delete table ip ${t}`);
  cmds.push(`add table ip ${t} { flags owner ; }`);
  cmds.push(`add chain ip ${t} pre { type filter hook prerouting priority raw ; policy accept ; }`);
  cmds.push(`add chain ip ${t} post { type filter hook postrouting priority srcnat ; policy accept ; }`);
  cmds.push(`flush chain ip ${t} pre`, `flush chain ip ${t} post`);
  const counters = new Set<string>();
  for (const p of pairs) {
    const n = counterNames(p.vni);
    for (const c of [...n.pre, ...n.post]) {
      counters.add(c);
      cmds.push(`add counter ip ${t} ${c}`);
    }
  }
  for (const p of pairs) cmds.push(...directionRules(t, prm, p.vni, p.sources[0], p.sources[1], 0), ...directionRules(t, prm, p.vni, p.sources[1], p.sources[0], 1));
  if (!fresh) for (const c of installed) if (!counters.has(c)) cmds.push(`delete counter ip ${t} ${c}`);
  return { batch: cmds.join(' ; '), counters };
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
