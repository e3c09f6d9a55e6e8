/**
 * Why a peer is relayed, as a code a program can branch on and a sentence a person can act on
 * (`status`). Checked in order: what rules out a direct path for sure comes before "still trying".
 */
import type { RelayReason } from '../paths/types.ts';
import type { PeerState } from './peer-state.ts';
import { BIRTHDAY_BACKOFF_MS } from './birthday.ts';
import { PING_TIMEOUT_MS } from './timing.ts';
import { wgBlockedText } from './wg-block.ts';

export interface SelfView {
  mappingVariesByDest: boolean | undefined;
  udp: boolean | undefined;
  /** One line from an IPS check of this router that hits our WireGuard traffic, when there is one. */
  ipsFinding?: string | undefined;
  /** Our mesh port (for the exemption hint). */
  meshPort?: number | undefined;
}

/** How long the relay's "peer gone" counts (a peer that is back shows up by its discovery messages sooner). */
export const PEER_GONE_HOLD_MS = 30_000;

export function relayReason(s: PeerState, self: SelfView, nowMs: number): { code: RelayReason; text: string } | undefined {
  if (s.best && !s.wgBlock) return undefined;
  const relay = s.peer.homeRelay ? `relay region ${s.peer.homeRelay}` : 'no relay (the peer has no home region yet)';
  // Not "no direct path": nothing can answer; the relay holds the packets' way for when it is back.
  if (s.gone && nowMs - s.gone.atMs < PEER_GONE_HOLD_MS) {
    const why = s.gone.reason === 'not-here' ? 'is not connected to it' : 'disconnected from it';
    return { code: 'peer-offline', text: `relay region ${s.gone.region} says the peer ${why} ${Math.round((nowMs - s.gone.atMs) / 1000)} s ago: the peer is offline` };
  }
  if (s.peer.online === false) return { code: 'peer-offline', text: 'the coordinator reports the peer offline (its session is gone); traffic waits on ' + relay };
  if (s.wgBlock) return { code: 'wireguard-blocked', text: wgBlockedText(s, relay, self.ipsFinding, self.meshPort) };
  if (self.udp === false) {
    return { code: 'udp-blocked', text: `no STUN answer: UDP does not leave this network (a firewall or a proxy-only uplink); traffic goes through ${relay}` };
  }
  if (s.cands.size === 0) return { code: 'no-candidates', text: `the peer advertised no endpoint we can send to; traffic goes through ${relay}` };
  if (self.mappingVariesByDest === true && s.peerHardNat === true) {
    return {
      code: 'both-hard',
      text: 'both NATs map per destination (ours and the peer\'s): the birthday attempt is not tried (it would need ~170,000 probes per side); ' +
        'make one side easy (conegate nat apply on a router you control, or a port mapping upstream)',
    };
  }
  const bd = s.birthday;
  if (bd.current) return { code: 'starting', text: `birthday attempt ${bd.current.id} running (${bd.current.role} side)` };
  if (bd.last && !bd.last.ok && bd.lastStartMs !== undefined) {
    const waitSec = Math.max(0, Math.ceil((bd.lastStartMs + BIRTHDAY_BACKOFF_MS - nowMs) / 1000));
    const what = `birthday attempt ${bd.attempts}: ${bd.last.sockets} sockets, ${bd.last.probes} probes, no pong in ${(bd.last.ms / 1000).toFixed(1)} s`;
    if (bd.blockedAtMs !== undefined && bd.blockedAtMs > bd.last.atMs && waitSec > 0) {
      return { code: 'birthday-backoff', text: `${what}; waiting ${waitSec} s before the next attempt (at most one per 5 min per pair)` };
    }
    return { code: 'birthday-failed', text: `${what}; next attempt possible in ${waitSec} s` };
  }
  if (s.discoStartMs === undefined || nowMs - s.discoStartMs < PING_TIMEOUT_MS) {
    return { code: 'starting', text: `discovery running: ${s.cands.size} candidates pinged, waiting for a pong` };
  }
  return {
    code: 'no-answer',
    text: `pinged ${s.cands.size} candidates, no pong (a firewall or IPS in the way, or the peer is offline); traffic goes through ${relay}`,
  };
}
