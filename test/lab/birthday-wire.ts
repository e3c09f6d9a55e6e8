/**
 * A plain (unsealed) ping/pong for birthday attempts in the lab and the unit tests, standing in for the
 * sealed discovery messages the mesh loop will plug into the executor (ProbeWire). Byte layouts:
 *   ping: "CGBDY" 0x01 | type 0x01 | attempt u32 BE | txId[12]                        (23 bytes)
 *   pong: "CGBDY" 0x01 | type 0x02 | attempt u32 BE | txId[12] | port u16 | ipv4[4]  (29 bytes)
 * A message of another attempt, a short one or a wrong magic opens to undefined (dropped and counted).
 */
import type { ProbeWire } from '../../agent/src/paths/birthday-exec.ts';
import type { Endpoint } from '../../agent/src/wg/ports.ts';

const MAGIC = [0x43, 0x47, 0x42, 0x44, 0x59, 0x01];
const PING = 0x01;
const PONG = 0x02;

function header(type: number, attempt: number, txId: Uint8Array, extra: number): Uint8Array {
  const b = new Uint8Array(6 + 1 + 4 + 12 + extra);
  b.set(MAGIC, 0);
  b[6] = type;
  new DataView(b.buffer).setUint32(7, attempt >>> 0);
  b.set(txId.subarray(0, 12), 11);
  return b;
}

export function plainWire(attempt: number): ProbeWire {
  return {
    ping: (txId) => header(PING, attempt, txId, 0),
    pong: (txId, src) => {
      const b = header(PONG, attempt, txId, 6);
      new DataView(b.buffer).setUint16(23, src.port);
      const parts = src.address.split('.').map(Number);
      if (parts.length === 4) b.set(parts, 25);
      return b;
    },
    open: (b) => {
      if (b.length < 23 || MAGIC.some((m, i) => b[i] !== m)) return undefined;
      if (new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(7) !== attempt >>> 0) return undefined;
      const txId = b.slice(11, 23);
      if (b[6] === PING) return { type: 'ping', txId };
      if (b[6] === PONG && b.length >= 29) return { type: 'pong', txId };
      return undefined;
    },
  };
}

/** The address a pong says the pinger was seen from (for the driver's report). */
export function pongSource(b: Uint8Array): Endpoint | undefined {
  if (b.length < 29 || b[6] !== PONG) return undefined;
  return { address: [...b.subarray(25, 29)].join('.'), port: new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(23) };
}
