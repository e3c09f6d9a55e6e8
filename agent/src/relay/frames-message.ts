/**
 * One decoded relay frame as a discriminated union, so a connection handler can switch on `kind`
 * instead of on type bytes. Pure; throws only DecodeError; undefined for types this codec does not know.
 */
import * as f from './frames.ts';

export type RelayMessage =
  | { kind: 'server-key'; serverKey: Uint8Array }
  | { kind: 'client-info'; clientKey: Uint8Array; sealed: Uint8Array }
  | { kind: 'server-info'; sealed: Uint8Array }
  | { kind: 'send'; dstKey: Uint8Array; data: Uint8Array }
  | { kind: 'recv'; srcKey: Uint8Array; data: Uint8Array }
  | { kind: 'keepalive' }
  | { kind: 'note-preferred'; preferred: boolean }
  | { kind: 'peer-gone'; key: Uint8Array; reason: f.PeerGoneReason }
  | ({ kind: 'peer-present' } & f.PeerPresent)
  | { kind: 'forward'; srcKey: Uint8Array; dstKey: Uint8Array; data: Uint8Array }
  | { kind: 'watch-conns' }
  | { kind: 'close-peer'; key: Uint8Array }
  | { kind: 'ping'; data: Uint8Array }
  | { kind: 'pong'; data: Uint8Array }
  | { kind: 'health'; problem: string }
  | ({ kind: 'restarting' } & f.Restarting);

export function decodeMessage(frame: f.Frame): RelayMessage | undefined {
  const b = frame.body;
  switch (frame.type) {
    case f.FrameType.SERVER_KEY:
      return { kind: 'server-key', serverKey: f.decodeServerKey(b) };
    case f.FrameType.CLIENT_INFO:
      return { kind: 'client-info', ...f.decodeClientInfo(b) };
    case f.FrameType.SERVER_INFO:
      return { kind: 'server-info', ...f.decodeServerInfo(b) };
    case f.FrameType.SEND:
      return { kind: 'send', ...f.decodeSend(b) };
    case f.FrameType.RECV:
      return { kind: 'recv', ...f.decodeRecv(b) };
    case f.FrameType.KEEPALIVE:
      return { kind: 'keepalive' };
    case f.FrameType.NOTE_PREFERRED:
      return { kind: 'note-preferred', preferred: f.decodeNotePreferred(b) };
    case f.FrameType.PEER_GONE:
      return { kind: 'peer-gone', ...f.decodePeerGone(b) };
    case f.FrameType.PEER_PRESENT:
      return { kind: 'peer-present', ...f.decodePeerPresent(b) };
    case f.FrameType.FORWARD:
      return { kind: 'forward', ...f.decodeForward(b) };
    case f.FrameType.WATCH_CONNS:
      return { kind: 'watch-conns' };
    case f.FrameType.CLOSE_PEER:
      return { kind: 'close-peer', key: f.decodeClosePeer(b) };
    case f.FrameType.PING:
      return { kind: 'ping', data: f.decodePing(b) };
    case f.FrameType.PONG:
      return { kind: 'pong', data: f.decodePong(b) };
    case f.FrameType.HEALTH:
      return { kind: 'health', problem: f.decodeHealth(b) };
    case f.FrameType.RESTARTING:
      return { kind: 'restarting', ...f.decodeRestarting(b) };
    default:
      return undefined;
  }
}
