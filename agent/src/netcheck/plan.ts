/**
 * The netcheck probe plan as data, computed before any packet is sent (and again between the two
 * phases, from what phase 1 learned). Phase 1: one Binding per resolved server endpoint from the
 * family's mapping socket. Phase 2, needing a server that gave OTHER-ADDRESS (RFC 5780):
 *  - mapping tests (RFC 5780 4.3) from the SAME mapping socket to the alternate IP (A2:P1), the
 *    alternate IP and port (A2:P2) and the alternate port (A1:P2);
 *  - filtering tests (RFC 5780 4.4) from a FRESH socket that has talked only to A1:P1, so no earlier
 *    packet opened the NAT's filter for the alternates: CHANGE-REQUEST ip+port, port only, and a
 *    plain control request (tells "filtered" from "server down");
 *  - hairpinning (RFC 5780 4.5): the mapping socket sends to its own public endpoint.
 */
import type { UdpEndpoint } from '../stun/bind.ts';
import type { RetransmitOptions } from '../stun/client.ts';

export type Family = 4 | 6;
export type SocketRole = 'mapping' | 'filtering';
export type ProbeKind = 'binding' | 'mapping-alt-ip' | 'mapping-alt-both' | 'mapping-alt-port' | 'filter-change-both' | 'filter-change-port' | 'filter-control' | 'hairpin';

export interface ResolvedServer {
  /** As configured: host:port. */
  label: string;
  endpoint: UdpEndpoint;
  family: Family;
}

export interface Probe {
  id: string;
  kind: ProbeKind;
  family: Family;
  socket: SocketRole;
  /** Index into the resolved server list this probe concerns. */
  server: number;
  target: UdpEndpoint;
  changeIp?: boolean;
  changePort?: boolean;
  /** Where the answer must come from (the alternate for change requests). */
  expectFrom?: UdpEndpoint;
  /** Offset from the start of its phase. */
  atMs: number;
  retransmit: RetransmitOptions;
}

/** Fast retransmissions for an interactive check: RFC 8489 doubling from 250 ms, cut at the deadline. */
export function probeRetransmit(timeoutMs: number): RetransmitOptions {
  return { rtoMs: 250, rc: 7, rm: 16, deadlineMs: timeoutMs };
}

const ep = (e: UdpEndpoint): string => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);

/** Phase 1: a Binding to every server endpoint of every family we have a socket for, all at once. */
export function planInitial(servers: ResolvedServer[], families: Family[], timeoutMs: number): Probe[] {
  return servers.flatMap((s, i) =>
    families.includes(s.family)
      ? [{ id: `v${s.family}:binding:${ep(s.endpoint)}`, kind: 'binding' as const, family: s.family, socket: 'mapping' as const, server: i, target: s.endpoint, atMs: 0, retransmit: probeRetransmit(timeoutMs) }]
      : [],
  );
}

/** What phase 2 needs from phase 1 for one family. */
export interface FollowUpInput {
  family: Family;
  /** The first server of this family that answered with OTHER-ADDRESS, and that address. */
  rfc5780?: { server: number; primary: UdpEndpoint; other: UdpEndpoint };
  /** The mapping socket's public endpoint, if phase 1 learned one. */
  mapped?: UdpEndpoint;
}

/** Phase 2 for one family: RFC 5780 mapping and filtering tests, and hairpinning. */
export function planFollowUp(input: FollowUpInput, timeoutMs: number): Probe[] {
  const out: Probe[] = [];
  const rt = probeRetransmit(timeoutMs);
  const f = input.family;
  const r = input.rfc5780;
  if (r) {
    const altIp = { address: r.other.address, port: r.primary.port };
    const altPort = { address: r.primary.address, port: r.other.port };
    const add = (kind: ProbeKind, socket: SocketRole, target: UdpEndpoint, extra: Partial<Probe> = {}): void => {
      out.push({ id: `v${f}:${kind}:${ep(target)}`, kind, family: f, socket, server: r.server, target, atMs: 0, retransmit: rt, ...extra });
    };
    add('mapping-alt-ip', 'mapping', altIp);
    add('mapping-alt-both', 'mapping', r.other);
    add('mapping-alt-port', 'mapping', altPort);
    add('filter-change-both', 'filtering', r.primary, { changeIp: true, changePort: true, expectFrom: r.other });
    add('filter-change-port', 'filtering', r.primary, { changePort: true, expectFrom: altPort });
    add('filter-control', 'filtering', r.primary);
  }
  if (input.mapped) {
    out.push({ id: `v${f}:hairpin:${ep(input.mapped)}`, kind: 'hairpin', family: f, socket: 'mapping', server: r?.server ?? 0, target: input.mapped, atMs: 0, retransmit: { ...rt, rc: 4 } });
  }
  return out;
}
