/**
 * "Something drops WireGuard-shaped UDP": the direct path answers discovery pings but WireGuard sent on
 * it gets nothing back (the router's watch, agent/src/paths/wg-watch.ts, says when). That is what an IPS
 * rule matching WireGuard's message type and length does (Suricata/Snort `content:"|01 00 00 00|";
 * depth:4; dsize:148;` for initiations, or type 4 data): discovery messages start with their own magic
 * and pass. The peer then goes through the relay, with a reason that says so and how to exempt the mesh,
 * and the direct path is tried again for WireGuard once a minute (a rule that is lifted heals within 60 s).
 */
import type { Via } from '../paths/types.ts';
import { formatEndpoint } from '../wg/ports.ts';
import { candidateKey, pushEvent, type PeerState } from './peer-state.ts';
import { TRUST_MS } from './timing.ts';

/** Relay only for this long after a silence; then WireGuard goes direct and through the relay both
 * until it is heard direct (cleared) or the watch reports silence again. Issue 18: a path that heals is
 * used again within 60 s. */
export const WG_BLOCK_RETRY_MS = 60_000;
/** "Discovery passes" = the path answered a ping within the trust window (heartbeats every 3 s keep it
 * fresh while traffic flows); a path that is simply dead is the heartbeat logic's business, not an IPS
 * verdict. */
export const WG_BLOCK_PONG_MAX_AGE_MS = TRUST_MS;

/** The watch reported silence on `via`; true when the peer is (still) marked blocked. */
export function markWgSilent(s: PeerState, via: Via, nowMs: number): boolean {
  if (via.kind !== 'direct') return false;
  const c = s.cands.get(candidateKey(via.endpoint, via.socket));
  if (c?.lastPongMs === undefined || nowMs - c.lastPongMs > WG_BLOCK_PONG_MAX_AGE_MS) return false;
  const endpoint = formatEndpoint(via.endpoint);
  const prev = s.wgBlock;
  s.wgBlock = { sinceMs: prev?.sinceMs ?? nowMs, endpoint, retryAtMs: nowMs + WG_BLOCK_RETRY_MS, checks: (prev?.checks ?? 0) + 1 };
  pushEvent(s, nowMs, `WireGuard to ${endpoint} gets no answer while discovery pings do: WireGuard-shaped UDP is dropped on the way; on relay, trying direct again in ${WG_BLOCK_RETRY_MS / 1000} s`);
  return true;
}

/** WireGuard came back on a direct path: the block is lifted. True when there was one. */
export function clearWgBlock(s: PeerState, nowMs: number): boolean {
  if (!s.wgBlock) return false;
  pushEvent(s, nowMs, `WireGuard passes on the direct path again (blocked since ${Math.round((nowMs - s.wgBlock.sinceMs) / 1000)} s ago)`);
  s.wgBlock = undefined;
  return true;
}

/** Relay only now (within the minute after the last silence). */
export function wgRelayOnly(s: PeerState, nowMs: number): boolean {
  return s.wgBlock !== undefined && nowMs < s.wgBlock.retryAtMs;
}

export function wgBlockedText(s: PeerState, relay: string, ipsFinding: string | undefined, meshPort: number | undefined): string {
  const b = s.wgBlock!;
  const port = meshPort ? `UDP port ${meshPort}` : 'the mesh UDP port';
  const found = ipsFinding
    ? `this router's IPS check: ${ipsFinding}`
    : 'something on the path drops WireGuard-shaped UDP (an IPS or firewall rule matching WireGuard\'s message type and length, e.g. 148-byte type 1 initiations), while discovery packets pass';
  return `discovery pings to ${b.endpoint} are answered but WireGuard sent there gets nothing back (${b.checks} check${b.checks === 1 ? '' : 's'}): ${found}; ` +
    `traffic goes through ${relay}; to go direct, exempt the mesh from the IPS (suppress or pass the rule for ${port}, or add the peers' addresses to its pass list; conegate ips check names the rule on OPNsense, pfSense and UniFi)`;
}
