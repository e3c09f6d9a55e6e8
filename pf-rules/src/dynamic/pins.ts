/**
 * The dynamic mode for PF without `endpoint-independent` (the idea of OpenBSD's pfnatd, rebuilt for
 * FreeBSD PF): watch outbound UDP NAT states and pin each internal socket to one external port with
 * a per-socket rule in our anchor,
 *   nat on <wan> inet proto udp from <int ip> port <int port> to any -> <ext ip> port <ext port>
 * so every later flow of that socket, to any destination, leaves from the same external port
 * (endpoint-independent mapping). Filtering is untouched: replies still need a state, so nothing
 * inbound opens. A pin lives while any state of its socket lives, plus a grace period.
 *
 * Port choice: keep the port the socket already has on the wire (its first flow continues
 * undisturbed) unless another pin or another socket's state holds it on that address, as happens
 * when the appliance uses static-port and two LAN hosts send from the same source port; then pick
 * a free port from the range with the injected random function. Pure: no clock, no I/O.
 * Only states already translated by PF are seen, so a socket's first flow is the appliance's own
 * mapping; every flow after the next poll uses the pin.
 */
import { cidrContains, parseCidr, parseIp } from '../../../agent/src/net/ip.ts';
import type { PortRange } from '../model.ts';
import { formatPortRange } from '../hosts.ts';
import { outboundUdpNat, type PfState } from './states.ts';

export interface Pin {
  wanIf: string;
  extAddr: string;
  extPort: number;
  intAddr: string;
  intPort: number;
  createdMs: number;
  lastSeenMs: number;
}

export interface PinScope {
  /** Internal sources to pin (CIDRs); empty = every translated socket. */
  sources: string[];
  /** Internal source ports to pin; undefined = all. */
  ports?: PortRange[];
}

export interface WanAddresses {
  ifname: string;
  /** Addresses this WAN translates to (interface address, VIPs); may be empty when dynamic. */
  addresses: string[];
}

export interface PlanInput {
  states: PfState[];
  pins: Pin[];
  nowMs: number;
  /** How long a pin outlives the last state of its socket. */
  graceMs: number;
  scope: PinScope;
  wans: WanAddresses[];
  /** Range to pick new external ports from when the wire port is taken. */
  portRange: PortRange;
  /** Uniform integer in [0, n); injected so tests are deterministic. */
  randomInt: (n: number) => number;
}

export interface Plan {
  pins: Pin[];
  added: Pin[];
  expired: Pin[];
  /** True when the rule text changes (pins added or expired). */
  changed: boolean;
  /** Sockets that could not be placed on a WAN, or found no free port. */
  unplaced: string[];
}

const sockKey = (wanIf: string, addr: string, port: number) => `${wanIf}|${addr}|${port}`;

function inScope(s: PfState, scope: PinScope): boolean {
  const ip = parseIp(s.stack!.addr);
  if (!ip || ip.family !== 4) return false;
  if (scope.sources.length && !scope.sources.some((c) => { const cidr = parseCidr(c, { loose: true }); return cidr !== undefined && cidrContains(cidr, ip.bytes); })) return false;
  return !scope.ports || scope.ports.some((r) => s.stack!.port >= r.from && s.stack!.port <= r.to);
}

function wanOf(s: PfState, wans: WanAddresses[]): string | undefined {
  if (wans.some((w) => w.ifname === s.ifname)) return s.ifname;
  const byAddr = wans.find((w) => w.addresses.includes(s.wire.addr));
  if (byAddr) return byAddr.ifname;
  return wans.length === 1 ? wans[0]!.ifname : undefined;
}

function pickPort(used: Set<number>, range: PortRange, randomInt: (n: number) => number): number | undefined {
  const size = range.to - range.from + 1;
  if (used.size >= size) return undefined;
  // A random start then a linear probe: bounded, and ports stay hard to predict.
  const start = randomInt(size);
  for (let i = 0; i < size; i++) {
    const p = range.from + ((start + i) % size);
    if (!used.has(p)) return p;
  }
  return undefined;
}

/** Computes the next set of pins from the current states and pins. */
export function planPins(input: PlanInput): Plan {
  const allNat = input.states.filter((s) => s.direction === 'out' && s.stack !== undefined);
  const nat = outboundUdpNat(input.states).filter((s) => inScope(s, input.scope));
  const pins = new Map(input.pins.map((p) => [sockKey(p.wanIf, p.intAddr, p.intPort), { ...p }]));
  const unplaced: string[] = [];
  // Live sockets, in a stable order so ties for a port resolve the same way every poll.
  const live = new Map<string, { wanIf: string; states: PfState[] }>();
  for (const s of nat) {
    const wanIf = wanOf(s, input.wans);
    if (!wanIf) {
      unplaced.push(`${s.stack!.addr}:${s.stack!.port} (no WAN for ${s.wire.addr})`);
      continue;
    }
    const k = sockKey(wanIf, s.stack!.addr, s.stack!.port);
    const entry = live.get(k) ?? { wanIf, states: [] };
    entry.states.push(s);
    live.set(k, entry);
  }
  const added: Pin[] = [];
  const keys = [...live.keys()].sort();
  for (const k of keys) {
    const existing = pins.get(k);
    if (existing) {
      existing.lastSeenMs = input.nowMs;
      continue;
    }
    const { wanIf, states } = live.get(k)!;
    const first = states[0]!;
    const extAddr = first.wire.addr;
    // Ports in use on this external address: other pins, and every other socket's translated states.
    // When the appliance used static-port, two LAN sockets can share a wire port; then both move to
    // free ports, because keeping it would make PF refuse the keeper's new flow to any destination
    // the other socket's old state still holds (same wire tuple) until that state expires.
    const used = new Set<number>();
    for (const p of pins.values()) if (p.extAddr === extAddr) used.add(p.extPort);
    for (const s of allNat) if (s.wire.addr === extAddr && !(s.stack!.addr === first.stack!.addr && s.stack!.port === first.stack!.port)) used.add(s.wire.port);
    const extPort = used.has(first.wire.port) ? pickPort(used, input.portRange, input.randomInt) : first.wire.port;
    if (extPort === undefined) {
      unplaced.push(`${first.stack!.addr}:${first.stack!.port} (no free port on ${extAddr})`);
      continue;
    }
    const pin: Pin = { wanIf, extAddr, extPort, intAddr: first.stack!.addr, intPort: first.stack!.port, createdMs: input.nowMs, lastSeenMs: input.nowMs };
    pins.set(k, pin);
    added.push(pin);
  }
  const expired: Pin[] = [];
  for (const [k, p] of pins) {
    if (!live.has(k) && input.nowMs - p.lastSeenMs > input.graceMs) {
      expired.push(p);
      pins.delete(k);
    }
  }
  const ordered = [...pins.values()].sort((a, b) => a.wanIf.localeCompare(b.wanIf) || a.intAddr.localeCompare(b.intAddr) || a.intPort - b.intPort);
  return { pins: ordered, added, expired, changed: added.length > 0 || expired.length > 0, unplaced };
}

/** The per-socket rules, each after a comment saying why it is there. */
export function renderPins(pins: Pin[]): string {
  return pins
    .map((p) => `# dynamic pin: ${p.intAddr}:${p.intPort} keeps ${p.extAddr}:${p.extPort} for every destination (endpoint-independent mapping without kernel support)\nnat on ${p.wanIf} inet proto udp from ${p.intAddr} port ${p.intPort} to any -> ${p.extAddr} port ${formatPortRange({ from: p.extPort, to: p.extPort })}\n`)
    .join('');
}
