/**
 * TAI64N timestamps for handshake initiations (whitepaper 5.1): 8 bytes big-endian seconds with the
 * TAI64 label 2^62 (+10, the TAI-UTC offset wireguard-go uses), then 4 bytes big-endian nanoseconds.
 * The responder only needs them to increase, so the wall clock is injected and its nanoseconds are
 * rounded down to 2^24 ns (as wireguard-go does) to avoid leaking a fine-grained clock.
 */

const TAI64_BASE = 2n ** 62n + 10n;
const WHITENER_MASK = 0x1000000 - 1;

export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6);
  view.setBigUint64(0, TAI64_BASE + BigInt(secs));
  view.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0);
  return out;
}

/** True if a is strictly later than b (both 12-byte TAI64N; big-endian, so bytewise order is time order). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}
