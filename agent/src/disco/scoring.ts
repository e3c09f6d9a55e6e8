/**
 * Path choice, pure: which of two measured paths is better, with tailscale's point system
 * (wgengine/magicsock/endpoint.go betterAddr): the faster one gets its percentage advantage in points,
 * +50 loopback, +30 link-local, +20 private, +10 IPv6 (so IPv6 wins while within 10% of IPv4); we add a
 * loss penalty of one point per percent of pings lost, so a lossy path is demoted. Switching needs more than
 * SWITCH_MIN_POINTS (hysteresis). Across kinds: direct beats UDP relay beats TCP relay, whatever the RTT.
 */
import { parseIp } from '../net/ip.ts';
import type { PathKind } from '../paths/types.ts';
import { SWITCH_MIN_POINTS } from './timing.ts';

export interface Measured {
  kind: PathKind;
  address: string;
  rttMs: number;
  /** 0..1: share of recent pings without a pong. */
  loss: number;
}

const KIND_RANK: Record<PathKind, number> = { direct: 3, 'udp-relay': 2, 'tcp-relay': 1 };

export type AddressClass = 'loopback' | 'link-local' | 'private' | 'public' | 'invalid';

/** RFC 1918, RFC 6598 (CGNAT counts as private: not reachable from outside), RFC 4193 ULA. */
export function classifyAddress(address: string): { cls: AddressClass; v6: boolean } {
  const ip = parseIp(address);
  if (!ip) return { cls: 'invalid', v6: false };
  const b = ip.bytes;
  if (ip.family === 4) {
    if (b[0] === 127) return { cls: 'loopback', v6: false };
    if (b[0] === 169 && b[1] === 254) return { cls: 'link-local', v6: false };
    const priv = b[0] === 10 || (b[0] === 172 && (b[1]! & 0xf0) === 16) || (b[0] === 192 && b[1] === 168) || (b[0] === 100 && (b[1]! & 0xc0) === 64);
    return { cls: priv ? 'private' : 'public', v6: false };
  }
  if (b.every((x, i) => (i === 15 ? x === 1 : x === 0))) return { cls: 'loopback', v6: true };
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return { cls: 'link-local', v6: true };
  if ((b[0]! & 0xfe) === 0xfc) return { cls: 'private', v6: true };
  return { cls: 'public', v6: true };
}

const CLASS_POINTS: Record<AddressClass, number> = { loopback: 50, 'link-local': 30, private: 20, public: 0, invalid: 0 };

/** Points of `a` over `b` (positive: a is better). Only meaningful for two paths of the same kind. */
export function pointsOver(a: Measured, b: Measured): number {
  const pts = (x: Measured, other: Measured): number => {
    const c = classifyAddress(x.address);
    let p = CLASS_POINTS[c.cls] + (c.v6 ? 10 : 0) - Math.round(x.loss * 100);
    if (x.rttMs < other.rttMs && other.rttMs > 0) p += ((other.rttMs - x.rttMs) / other.rttMs) * 100;
    return p;
  };
  return pts(a, b) - pts(b, a);
}

/** Should `candidate` replace `current`? Kind first, then points with hysteresis. */
export function shouldSwitch(candidate: Measured, current: Measured | undefined): boolean {
  if (!current) return true;
  const rank = KIND_RANK[candidate.kind] - KIND_RANK[current.kind];
  if (rank !== 0) return rank > 0;
  return pointsOver(candidate, current) > SWITCH_MIN_POINTS;
}
