/**
 * In-memory WireGuard throughput: two devices over the memory bind and memory TUNs, 1420-byte IP
 * packets (a full tunnel MTU), one direction at a time. Measures the protocol core alone — seal,
 * MemoryNetwork hop, open, replay window, allowed-IPs source check — without sockets or TUN syscalls.
 * Also times Session.seal / Session.open alone to show how much of it is ChaCha20-Poly1305.
 *   npm run bench wg-core      (or: node --import tsx bench/run.ts wg-core)
 */
import { ipv4Packet, makeTestbed } from '../agent/src/wg/testbed.ts';
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { loadavg } from 'node:os';
import { Session } from '../agent/src/wg/session.ts';

const PACKET_BYTES = 1420;
const BATCH = 1000;

function gbps(packetsPerSec: number): number {
  return Number(((packetsPerSec * PACKET_BYTES * 8) / 1e9).toFixed(3));
}

async function devicePath(packets: number): Promise<{ packetsPerSec: number; gbitPerSec: number; delivered: number }> {
  const tb = makeTestbed({ seed: 'bench' });
  tb.a.tun.keepWritten = false;
  tb.b.tun.keepWritten = false;
  let delivered = 0;
  tb.b.tun.onWrite = () => delivered++;
  const pkt = ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, PACKET_BYTES - 20);
  tb.a.tun.inject(pkt);
  await tb.net.idle();
  delivered = 0;
  const t0 = performance.now();
  for (let sent = 0; sent < packets; sent += BATCH) {
    for (let i = 0; i < BATCH; i++) tb.a.tun.inject(pkt);
    await tb.net.idle();
  }
  const sec = (performance.now() - t0) / 1000;
  const s = tb.b.dev.stats();
  tb.stop();
  if (delivered !== packets || s.internalErrors) throw new Error(`delivered ${delivered} of ${packets}`);
  const pps = Math.round(packets / sec);
  return { packetsPerSec: pps, gbitPerSec: gbps(pps), delivered };
}

/**
 * node:crypto alone, one cipher object per packet each way (seal then open): the ceiling for any
 * per-packet design, and the yardstick on a shared machine whose speed varies from second to second.
 */
function rawCipher(packets: number): number {
  const key = createSecretKey(Buffer.alloc(32, 1));
  const nonce = Buffer.alloc(12);
  const pt = Buffer.alloc(PACKET_BYTES, 7);
  const t0 = performance.now();
  for (let i = 0; i < packets; i++) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const ct = c.update(pt);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    d.setAuthTag(tag);
    d.update(ct);
    d.final();
  }
  return Math.round(packets / ((performance.now() - t0) / 1000));
}

function crypto(packets: number): { sealPerSec: number; openPerSec: number; sealGbit: number; openGbit: number } {
  const keys = (init: boolean) => ({
    sendKey: new Uint8Array(32).fill(init ? 1 : 2),
    receiveKey: new Uint8Array(32).fill(init ? 2 : 1),
    isInitiator: init,
    localIndex: init ? 1 : 2,
    remoteIndex: init ? 2 : 1,
  });
  const tx = new Session(keys(true), 0);
  const rx = new Session(keys(false), 0);
  const payload = new Uint8Array(PACKET_BYTES).fill(7);
  const sealed: Uint8Array[] = new Array(packets);
  let t0 = performance.now();
  for (let i = 0; i < packets; i++) sealed[i] = tx.seal(payload, PACKET_BYTES, 0)!;
  const sealSec = (performance.now() - t0) / 1000;
  t0 = performance.now();
  for (let i = 0; i < packets; i++) if (typeof rx.open(sealed[i]!) === 'string') throw new Error('open failed');
  const openSec = (performance.now() - t0) / 1000;
  const seal = Math.round(packets / sealSec);
  const open = Math.round(packets / openSec);
  return { sealPerSec: seal, openPerSec: open, sealGbit: gbps(seal), openGbit: gbps(open) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(args: string[] = []): Promise<unknown> {
  const quick = args.includes('--quick');
  const rounds = quick ? 3 : 7;
  const n = quick ? 10_000 : 30_000;
  crypto(5_000); // warm up
  await devicePath(5_000);
  rawCipher(5_000);
  // Interleaved rounds: on a shared machine the speed drifts, so compare within a round, report medians.
  const device: number[] = [];
  const raw: number[] = [];
  const ratio: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const d = (await devicePath(n)).packetsPerSec;
    const c = rawCipher(n);
    device.push(d);
    raw.push(c);
    ratio.push(d / c);
  }
  const session = crypto(n);
  const devicePps = median(device);
  return {
    packetBytes: PACKET_BYTES,
    packetsPerRound: n,
    rounds,
    node: process.version,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    encryptDecryptOverMemoryBind: { packetsPerSec: devicePps, gbitPerSec: gbps(devicePps), perRound: device },
    rawNodeCipherSealOpenPerSec: { median: median(raw), perRound: raw },
    // How close the whole device path (seal, memory hop, open, replay, routing) gets to bare node:crypto.
    deviceVsRawCipher: Number(median(ratio).toFixed(3)),
    sessionOnly: session,
  };
}

// Allow running this file directly.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(process.argv.slice(2)), null, 2));
}
