/**
 * The UDP relay's side of a peer's path choice, pure (on nowMs): when to ask for a UDP relay path, whether
 * one that is bound may carry the tunnel, and why a relayed peer is on the UDP relay or the TCP relay.
 * Preference (docs/mesh-paths.md): direct, then UDP relay, then TCP relay. A UDP relay is asked for only
 * when discovery gave up on a direct path for now, or has run for `wantAfterMs` without one; it carries
 * the tunnel only after a pong came back through it (a bound path only means *our* side is bound), and
 * the TCP relay carries a copy again as soon as a ping through it stays unanswered.
 */
import type { NodeKeyHex, RelayChoiceCode, RelayReason, UdpRelayTarget, Via } from '../paths/types.ts';
import { formatEndpoint } from '../wg/ports.ts';
import { ACTIVE_MS, PING_TIMEOUT_MS, SUSPECT_MIN_MS, TRUST_MS } from './timing.ts';

export type UdpVia = Extract<Via, { kind: 'udp-relay' }>;

export const UDP_RELAY_TIMING = {
  /** Discovery without a direct path this long (one ping timeout) and still no verdict: ask for a UDP relay
   * anyway; it costs one allocation and is dropped again when a direct path wins. */
  wantAfterMs: PING_TIMEOUT_MS,
  /** Pings through the relay while the peer is active: often enough that a dead relay is noticed (suspect
   * after SUSPECT_MIN_MS unanswered) within about 3 s, which is the fallback time to the TCP relay. */
  heartbeatMs: 2_000,
  /** A ping through the relay from the peer before we have a pong: pinged back at most this often. */
  pingBackMs: 250,
  /** Heartbeats lost in a row before the UDP relay path is dropped and asked for again after `retryMs`. */
  lostToDrop: 3,
  retryMs: 30_000,
  /** A relay that allocates and binds in under this long answers; past it `status` says it failed. */
  bindTimeoutMs: 6_000,
};

/** Reasons from the discovery engine after which no direct path is expected soon. */
const GAVE_UP: ReadonlySet<RelayReason> = new Set(['both-hard', 'no-answer', 'birthday-failed', 'birthday-backoff', 'no-candidates']);

export interface UdpRelayPeer {
  peer: NodeKeyHex;
  relay?: UdpRelayTarget;
  wantedAtMs?: number;
  via?: UdpVia;
  boundAtMs?: number;
  /** Traffic without a direct path since (the `wantAfterMs` clock). */
  relayedSinceMs?: number;
  lastTrafficMs?: number;
  lastPingMs?: number;
  lastPingBackMs?: number;
  lastPongMs?: number;
  confirmedSinceMs?: number;
  /** Send time of the oldest unanswered ping through the relay. */
  awaitingSinceMs?: number;
  rttSamples: number[];
  lostInRow: number;
  retryAtMs?: number;
  pending: Map<string, number>;
  /** When the engine next needs to look at this peer's UDP relay side. */
  wakeMs?: number;
}

export function newUdpRelayPeer(peer: NodeKeyHex): UdpRelayPeer {
  return { peer, rttSamples: [], lostInRow: 0, pending: new Map() };
}

export const isActive = (u: UdpRelayPeer, nowMs: number): boolean => u.lastTrafficMs !== undefined && nowMs - u.lastTrafficMs < ACTIVE_MS;

export function rttOf(u: UdpRelayPeer): number | undefined {
  return u.rttSamples.length ? Math.min(...u.rttSamples) : undefined;
}

/** Should a UDP relay path be kept (or asked for) now? */
export function shouldWant(u: UdpRelayPeer, o: { directTrusted: boolean; reason: RelayReason | undefined; udpBlocked: boolean; nowMs: number }): boolean {
  if (!u.relay || o.directTrusted || o.udpBlocked || !isActive(u, o.nowMs)) return false;
  if (u.retryAtMs !== undefined && o.nowMs < u.retryAtMs) return false;
  if (u.wantedAtMs !== undefined) return true;
  if (o.reason !== undefined && GAVE_UP.has(o.reason)) return true;
  return u.relayedSinceMs !== undefined && o.nowMs - u.relayedSinceMs >= UDP_RELAY_TIMING.wantAfterMs;
}

/** 'alone': the UDP relay carries the tunnel; 'with-tcp': a copy goes through the TCP relay too; 'no'. */
export function usable(u: UdpRelayPeer, nowMs: number): 'alone' | 'with-tcp' | 'no' {
  if (!u.via || u.lastPongMs === undefined || (u.boundAtMs !== undefined && u.lastPongMs < u.boundAtMs)) return 'no';
  return trusted(u, nowMs) ? 'alone' : 'with-tcp';
}

function trusted(u: UdpRelayPeer, nowMs: number): boolean {
  if (u.lastPongMs === undefined || nowMs - u.lastPongMs >= TRUST_MS) return false;
  return u.awaitingSinceMs === undefined || nowMs - u.awaitingSinceMs <= Math.max(SUSPECT_MIN_MS, 3 * (rttOf(u) ?? 0));
}

/** When `usable` may change with time alone (wake planning). */
export function trustEdgeMs(u: UdpRelayPeer): number | undefined {
  if (u.lastPongMs === undefined) return undefined;
  const a = u.awaitingSinceMs === undefined ? Infinity : u.awaitingSinceMs + Math.max(SUSPECT_MIN_MS, 3 * (rttOf(u) ?? 0)) + 1;
  return Math.min(u.lastPongMs + TRUST_MS, a);
}

export function udpStatusState(u: UdpRelayPeer, nowMs: number): 'binding' | 'bound' | 'confirmed' | 'suspect' | 'failed' {
  const use = usable(u, nowMs);
  if (use === 'alone') return 'confirmed';
  if (use === 'with-tcp') return 'suspect';
  if (u.via) return 'bound';
  if (u.wantedAtMs === undefined || u.retryAtMs !== undefined || nowMs - u.wantedAtMs >= UDP_RELAY_TIMING.bindTimeoutMs) return 'failed';
  return 'binding';
}

/** Why the UDP relay or the TCP relay carries a peer that is not direct. */
export function relayChoice(u: UdpRelayPeer | undefined, o: { udpBlocked: boolean; homeRelay: string | null; nowMs: number }): { code: RelayChoiceCode; text: string } {
  const tcp = o.homeRelay ? `the TCP relay (region ${o.homeRelay})` : 'the TCP relay (no home region known yet)';
  if (o.udpBlocked) return { code: 'udp-blocked', text: `UDP does not leave this network, so no UDP relay can help; traffic goes through ${tcp}` };
  if (!u?.relay) return { code: 'no-udp-relay', text: `no other node in the map offers a UDP relay (mesh.udpRelay); traffic goes through ${tcp}` };
  const where = `node ${u.relay.nodeKey.slice(0, 8)} at ${formatEndpoint(u.relay.endpoint)}`;
  if (u.wantedAtMs === undefined && u.retryAtMs === undefined) {
    return { code: 'waiting-for-direct', text: `discovery is still looking for a direct path; the UDP relay of ${where} is asked for when it gives up; meanwhile ${tcp}` };
  }
  const state = udpStatusState(u, o.nowMs);
  if (state === 'confirmed') {
    const rtt = rttOf(u);
    return { code: 'udp-relay', text: `through the UDP relay of ${where}${rtt !== undefined ? `, rtt ${Math.round(rtt)} ms` : ''}: preferred over ${tcp} (datagrams stay datagrams: no TCP head-of-line blocking)` };
  }
  if (state === 'suspect') return { code: 'udp-relay-suspect', text: `pings through the UDP relay of ${where} are unanswered; ${tcp} carries a copy` };
  if (state === 'failed') {
    const retry = u.retryAtMs !== undefined ? `; asked again in ${Math.max(0, Math.ceil((u.retryAtMs - o.nowMs) / 1000))} s` : '';
    return { code: 'udp-relay-failed', text: `the UDP relay of ${where} did not bind or stopped answering${retry}; traffic goes through ${tcp}` };
  }
  return { code: 'udp-relay-starting', text: `${state === 'bound' ? 'bound to' : 'allocating on'} the UDP relay of ${where}, waiting for the peer's pong through it; meanwhile ${tcp}` };
}
