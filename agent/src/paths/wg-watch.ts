/**
 * Does WireGuard pass on the direct path? Discovery pongs prove that our discovery packets get through,
 * not that WireGuard does: an IPS rule that matches WireGuard's message type and length (type 1
 * initiations of 148 bytes, type 4 data) drops the tunnel while pings keep the path "trusted". The
 * router feeds this watch every WireGuard packet it sends to a peer directly and every one it receives
 * from the peer on a direct path; the watch says when the silence is longer than WireGuard allows:
 * - an initiation is answered at once (WireGuard paper 5.4.2), and retransmitted after REKEY_TIMEOUT
 *   (5 s): a second initiation with nothing back since the first means the first was lost;
 * - a data packet gets at least a keepalive back within KEEPALIVE_TIMEOUT (10 s) when the peer has
 *   nothing else to send; keepalives themselves are never answered, so they start no window;
 * - WireGuard from the peer through the relay ends a window without a verdict (the peer answers, by
 *   another way: found in the lab, where the side behind a hard NAT went direct before the other did);
 * - but a retransmitted initiation from the peer (through any path) after we sent directly since the
 *   first means our response was lost: the peer, already relayed, keeps asking and only the direct
 *   answers die (the lab's other side of an IPS that drops WireGuard in both directions).
 * Pure, on `nowMs`; one per peer.
 */
import { KEEPALIVE_TIMEOUT_MS, REKEY_TIMEOUT_MS } from '../wg/constants.ts';

/** A retransmitted initiation comes REKEY_TIMEOUT + 0..333 ms after the first; a bit of slack for timers. */
export const WG_HANDSHAKE_SILENT_MS = REKEY_TIMEOUT_MS - 500;
/** Data with nothing back (not even a keepalive) for KEEPALIVE_TIMEOUT plus slack for a slow path. */
export const WG_DATA_SILENT_MS = KEEPALIVE_TIMEOUT_MS + 2_000;

const INITIATION = 1;
const TRANSPORT = 4;
/** Transport header (16) + the empty payload's tag (16): a keepalive. */
const KEEPALIVE_LENGTH = 32;
/** Two initiations from the peer this close are a retransmission (REKEY_TIMEOUT apart), not a rekey
 * (REKEY_AFTER_TIME, 120 s apart). */
const RETRANSMIT_WITHIN_MS = 2 * REKEY_TIMEOUT_MS + 1_000;

export class WgWatch {
  private handshakeSinceMs: number | undefined;
  private dataSinceMs: number | undefined;
  private peerInitMs: number | undefined;
  private sentDirectSinceInit = false;
  /** A silence was reported and no WireGuard came back on a direct path since. */
  reported = false;

  /** A WireGuard packet sent directly. True when the silence just became too long (then a new window starts). */
  sent(packet: Uint8Array, nowMs: number): boolean {
    const type = packet[0];
    this.sentDirectSinceInit = true;
    if (type === INITIATION) {
      if (this.handshakeSinceMs === undefined) this.handshakeSinceMs = nowMs;
    } else if (type === TRANSPORT && packet.length > KEEPALIVE_LENGTH) {
      if (this.dataSinceMs === undefined) this.dataSinceMs = nowMs;
    }
    const hs = this.handshakeSinceMs !== undefined && nowMs - this.handshakeSinceMs >= WG_HANDSHAKE_SILENT_MS;
    const data = this.dataSinceMs !== undefined && nowMs - this.dataSinceMs >= WG_DATA_SILENT_MS;
    if (!hs && !data) return false;
    this.handshakeSinceMs = undefined;
    this.dataSinceMs = undefined;
    this.reported = true;
    return true;
  }

  /** WireGuard from the peer on a direct path. True when a reported silence just ended. */
  heard(): boolean {
    this.peerInitMs = undefined;
    this.handshakeSinceMs = undefined;
    this.dataSinceMs = undefined;
    const was = this.reported;
    this.reported = false;
    return was;
  }

  /**
   * WireGuard from the peer through a relay: the peer is answering, only not on the direct path (its own
   * engine may not trust that path yet, e.g. behind a NAT that maps per destination it learns our
   * address from our pings). No verdict from this window; a reported block stays until WireGuard
   * arrives directly.
   */
  heardRelayed(packet: Uint8Array, nowMs: number): boolean {
    if (packet[0] === INITIATION) {
      const retransmit = this.peerInitMs !== undefined && nowMs - this.peerInitMs <= RETRANSMIT_WITHIN_MS && this.sentDirectSinceInit;
      this.peerInitMs = nowMs;
      this.sentDirectSinceInit = false;
      if (retransmit) {
        this.handshakeSinceMs = undefined;
        this.dataSinceMs = undefined;
        this.reported = true;
        return true;
      }
    }
    this.handshakeSinceMs = undefined;
    this.dataSinceMs = undefined;
    return false;
  }

  /** Packets to the peer go only through a relay now: what was sent directly before is not waited for. */
  notDirect(): void {
    this.handshakeSinceMs = undefined;
    this.dataSinceMs = undefined;
  }
}
