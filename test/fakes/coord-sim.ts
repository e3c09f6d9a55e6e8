/**
 * Many simulated nodes in one process, for bench/coord.ts: registers `count` nodes over real HTTPS
 * (pinned), opens one map stream each, then makes `rate` endpoint changes a second for `seconds` and
 * times each change from the moment its request is sent to the moment each other node's stream
 * delivers it. Prints "phase changes-start" / "phase changes-end" lines (the parent samples the
 * coordinator's CPU there) and finally one JSON line of results.
 *   node --import tsx test/fakes/coord-sim.ts HOST PORT FINGERPRINT AUTHKEY COUNT RATE SECONDS
 */
import { randomBytes } from 'node:crypto';
import type { MapMessage } from '../../agent/src/coord/protocol.ts';
import { newMachineKey } from '../../agent/src/coord/sign.ts';
import { SimNode, waitFor, type MapStream } from './coord-node.ts';

const [host, portText, fingerprint, authKey, countText, rateText, secondsText] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const target = { host, port: Number(portText), fingerprint, timeoutMs: 60_000 };
const count = Number(countText);
const rate = Number(rateText);
const seconds = Number(secondsText);
const hex = () => randomBytes(32).toString('hex');

/** Port numbers tag changes: change i sets the mover's endpoint to 198.51.100.1:(10000+i). */
const sentAt = new Map<number, number>();
const latencies: number[] = [];
let changeBytes = 0;
let measuring = false;

function onMessage(m: MapMessage, bytes: number): void {
  if (!measuring || m.t !== 'delta') return;
  changeBytes += bytes;
  const now = performance.now();
  for (const p of m.patch ?? []) {
    const port = Number(p.endpoints?.[0]?.addr.split(':')[1] ?? 0) - 10_000;
    const t0 = sentAt.get(port);
    if (t0 !== undefined) latencies.push(now - t0);
  }
}

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

const nodes = Array.from({ length: count }, () => new SimNode(target, newMachineKey((n) => randomBytes(n))));
const regStart = performance.now();
await pool(nodes, 16, async (n) => {
  await n.register(authKey, 'sim', { nodeKey: hex(), discoKey: hex() });
});
const registerMs = performance.now() - regStart;
const streams: MapStream[] = [];
const streamStart = performance.now();
await pool(nodes, 16, async (n) => {
  streams.push(await n.stream(undefined, onMessage));
});
await waitFor(() => streams.every((s) => s.messages.length > 0), 'every full map', 300_000);
const fullMapBytes = streams.reduce((a, s) => a + (s.messages[0] ? JSON.stringify(s.messages[0]).length + 1 : 0), 0) / streams.length;
const streamMs = performance.now() - streamStart;
// Let the connect storm's online patches drain before measuring.
await new Promise((r) => setTimeout(r, 3000));

process.stdout.write('phase changes-start\n');
measuring = true;
const total = Math.round(rate * seconds);
const started = performance.now();
const posts: Promise<unknown>[] = [];
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const mover = nodes[(i * 7919) % count]!;
  sentAt.set(i, performance.now());
  posts.push(mover.request('POST', '/v1/endpoints', { endpoints: [{ addr: `198.51.100.1:${10_000 + i}`, type: 'stun' }] }));
}
await Promise.all(posts);
const expected = total * (count - 1);
await waitFor(() => latencies.length >= expected, 'every delivery', 60_000).catch(() => {});
measuring = false;
process.stdout.write('phase changes-end\n');

latencies.sort((a, b) => a - b);
const q = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? -1);
process.stdout.write(
  JSON.stringify({
    nodes: count,
    changes: total,
    deliveries: latencies.length,
    expectedDeliveries: expected,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: Math.round(latencies[latencies.length - 1] ?? -1),
    bytesPerChangePerNode: Math.round(changeBytes / total / (count - 1)),
    bytesPerChangeAllNodes: Math.round(changeBytes / total),
    fullMapBytes: Math.round(fullMapBytes),
    registerMs: Math.round(registerMs),
    streamsOpenMs: Math.round(streamMs),
  }) + '\n',
);
for (const s of streams) s.close();
process.exit(0);
