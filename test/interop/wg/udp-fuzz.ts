/**
 * Sends bounded junk at a WireGuard listen port: random bytes of random length, and messages of every
 * WireGuard type with the right length and reserved bytes but random content (bad MACs, unknown
 * receiver indices, forged counters), so each early check of the receive path is exercised.
 *
 *   node --import tsx test/interop/wg/udp-fuzz.ts HOST PORT COUNT SEED
 *
 * Deterministic for a seed; stops after COUNT datagrams or 20 s. Prints {"sent":N} at the end.
 */
import { createSocket } from 'node:dgram';

const [host = '127.0.0.1', portText = '51820', countText = '1000', seedText = '1'] = process.argv.slice(2);
const port = Number(portText);
const count = Math.min(Number(countText), 1_000_000);
let state = Number(seedText) >>> 0 || 1;
/** xorshift32: fully seeded, so a failing run can be replayed. */
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 0x1_0000_0000;
}
const int = (n: number) => Math.floor(rand() * n);
function bytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

/** type byte, then three reserved zero bytes; lengths from the WireGuard message layouts. */
function shaped(type: number, len: number): Buffer {
  const b = bytes(len);
  b[0] = type;
  b[1] = b[2] = b[3] = 0;
  return b;
}

function next(): Buffer {
  switch (int(6)) {
    case 0:
      return bytes(int(1500));
    case 1:
      return shaped(1, 148); // initiation: mac1 will not verify
    case 2:
      return shaped(2, 92); // response for an unknown sender index
    case 3:
      return shaped(3, 64); // cookie reply nobody asked for
    case 4:
      return shaped(4, 32 + 16 * int(90)); // transport with a random receiver index and counter
    default: {
      // A well-shaped message with one byte flipped in its header or a truncated tail.
      const b = shaped(1 + int(4), [148, 92, 64, 48][int(4)] as number);
      const at = int(4);
      if (rand() < 0.5) b[at] = (b[at] as number) ^ (1 << int(8));
      return rand() < 0.5 ? b.subarray(0, int(b.length)) : b;
    }
  }
}

const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
const deadline = Date.now() + 20_000;
let sent = 0;
while (sent < count && Date.now() < deadline) {
  for (let i = 0; i < 50 && sent < count; i++, sent++) sock.send(next(), port, host);
  // Yield so the socket drains instead of queueing everything in memory.
  await new Promise((r) => setTimeout(r, 1));
}
await new Promise<void>((r) => sock.close(() => r()));
console.log(JSON.stringify({ sent }));
