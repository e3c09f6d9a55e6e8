/**
 * A peer's path as `status` shows it: plain JSON, wall-clock times (ISO) instead of the engine's
 * monotonic milliseconds, the endpoint in use or the relay region, and the reason when not direct.
 */
import { formatEndpoint } from '../wg/ports.ts';
import type { PathKind, PeerPathStatus, RelayChoiceCode, RelayReason } from './types.ts';
import type { PeerPathPackets } from './router.ts';

export interface PeerPathView {
  kind: PathKind | 'none';
  /** Direct: the peer's ip:port in use; UDP relay: the relay's ip:port. */
  endpoint: string | null;
  /** TCP relay: the region. */
  region: string | null;
  /** Our socket the path uses (0 = the mesh socket; others are birthday sockets). */
  socket: number | null;
  rttMs: number | null;
  /** Seconds on this path. */
  forSec: number | null;
  reason: { code: RelayReason; text: string } | null;
  /** When not direct: why the UDP relay or the TCP relay carries the peer. */
  relayChoice: { code: RelayChoiceCode; text: string } | null;
  /** The UDP relay path while one is wanted: relay node key, its ip:port, state, RTT through it. */
  udpRelay: PeerPathStatus['udpRelay'] | null;
  /** WireGuard packets sent to the peer per path kind (which path carried the tunnel). */
  packets: PeerPathPackets | null;
  candidates: PeerPathStatus['candidates'];
  birthday: {
    attempts: number;
    last?: { sockets: number; probes: number; winner?: string; ms: number; ok: boolean; at: string; concurrent?: number };
    running?: NonNullable<PeerPathStatus['birthday']>['running'];
    node?: NonNullable<PeerPathStatus['birthday']>['node'];
  } | null;
  events: { at: string; text: string }[];
}

export function peerPathView(st: PeerPathStatus, nowMs: number, wallMs: number, packets?: PeerPathPackets): PeerPathView {
  const wall = (atMs: number) => new Date(wallMs - (nowMs - atMs)).toISOString();
  const p = st.path;
  const last = st.birthday?.last;
  return {
    kind: p?.kind ?? 'none',
    endpoint: p?.kind === 'direct' ? formatEndpoint(p.endpoint) : p?.kind === 'udp-relay' ? formatEndpoint(p.relay) : null,
    region: p?.kind === 'tcp-relay' ? p.region : null,
    socket: p?.kind === 'direct' || p?.kind === 'udp-relay' ? p.socket : null,
    rttMs: st.rttMs ?? null,
    forSec: st.sinceMs === undefined ? null : Math.max(0, Math.round((nowMs - st.sinceMs) / 1000)),
    reason: st.reason ?? null,
    relayChoice: st.path?.kind === 'direct' ? null : (st.relayChoice ?? null),
    udpRelay: st.udpRelay ?? null,
    packets: packets ?? null,
    candidates: st.candidates,
    birthday: st.birthday ? {
      attempts: st.birthday.attempts,
      ...(last ? { last: { sockets: last.sockets, probes: last.probes, ...(last.winner ? { winner: last.winner } : {}), ms: last.ms, ok: last.ok, at: wall(last.atMs), ...(last.concurrent !== undefined ? { concurrent: last.concurrent } : {}) } } : {}),
      ...(st.birthday.running ? { running: { ...st.birthday.running } } : {}),
      ...(st.birthday.node ? { node: { ...st.birthday.node } } : {}),
    } : null,
    events: st.events.map((e) => ({ at: wall(e.atMs), text: e.text })),
  };
}

/** One line for the text form of `status`. */
export function pathLine(v: PeerPathView | undefined): string {
  if (!v || v.kind === 'none') return `path none${v?.reason ? ` (${v.reason.code})` : ''}`;
  const where = v.kind === 'tcp-relay' ? `region ${v.region}` : `${v.endpoint}${v.socket ? ` socket ${v.socket}` : ''}`;
  const rtt = v.rttMs !== null ? ` rtt ${Math.round(v.rttMs)} ms` : '';
  const since = v.forSec !== null ? ` for ${v.forSec} s` : '';
  const why = v.reason && v.kind !== 'direct' ? ` (${v.reason.code}: ${v.reason.text})` : '';
  const choice = v.relayChoice && v.kind !== 'direct' ? ` [${v.relayChoice.code}: ${v.relayChoice.text}]` : '';
  return `path ${v.kind} ${where}${rtt}${since}${why}${choice}`;
}
