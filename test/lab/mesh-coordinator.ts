/**
 * The real coordinator (agent/src/coord/server, memory store) with synthetic nodes, for the RSS
 * benchmark (bench/agent.ts); the lab acceptance test runs `conegate coord serve` itself. It listens on --listen ADDR:PORT with a self-signed certificate made in --dir, prints
 * one JSON line {"ready":true,"fingerprint","authKey","port"} on stdout, then takes admin commands on
 * stdin, one per line: `revoke <nodeId>` -> {"revoked":id,"status":N}. Ends on SIGTERM or stdin close.
 * `--fake-nodes N` registers N synthetic nodes (keys, two endpoints each) first, for the RSS benchmark.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { realClock } from '../../agent/src/clock/clock.ts';
import { Coordinator } from '../../agent/src/coord/server/coordinator.ts';
import { selfSignedTls } from '../../agent/src/coord/server/tls.ts';
import { MemoryData, MemoryStore } from '../../agent/src/coord/store/memory.ts';
import { createLogger } from '../../agent/src/log/logger.ts';
import { parseHostPort } from '../../agent/src/net/ip.ts';
import { newMachineKey, signRequest } from '../../agent/src/coord/sign.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const listen = parseHostPort(arg('--listen') ?? '');
const dir = arg('--dir');
if (!listen || !dir) {
  process.stderr.write('usage: mesh-coordinator.ts --listen ADDR:PORT --dir DIR\n');
  process.exit(2);
}
const bytes = (n: number) => new Uint8Array(randomBytes(n));
const tls = await selfSignedTls(dir, [listen.host]);
const store = new MemoryStore({ data: new MemoryData(), randomBytes: bytes });
const coord = new Coordinator(
  // Synthetic nodes all register from one address: lift the per-address limit for them only.
  { host: listen.host, port: listen.port, tls, prefix6: 'fd7a:115c:a1e0::/48', ...(Number(arg('--fake-nodes') ?? 0) > 0 ? { registerLimit: { burst: 100_000, perSec: 100_000, maxKeys: 10_000 } } : {}) },
  { store, clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: bytes, log: createLogger({ level: 'warn' }) },
);
await coord.start();
const r = await coord.admin.inject({ method: 'POST', url: '/admin/authkeys', payload: { reusable: true } });
const fakeNodes = Number(arg('--fake-nodes') ?? 0);
for (let i = 0; i < fakeNodes; i++) {
  const key = newMachineKey(bytes);
  const hex = () => Buffer.from(bytes(32)).toString('hex');
  const send = async (url: string, body: unknown) => {
    const payload = JSON.stringify(body);
    const res = await coord.app.inject({ method: 'POST', url, headers: { authorization: signRequest(key, 'POST', url, payload, Date.now()), 'content-type': 'application/json' }, payload });
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  };
  await send('/v1/register', { authKey: r.json().secret, nodeKey: hex(), discoKey: hex(), hostname: `fake-${i}` });
  await send('/v1/endpoints', { endpoints: [{ addr: `192.0.2.${(i % 250) + 1}:${41641 + i}`, type: 'stun' }, { addr: `10.9.${i >> 8}.${i & 255}:41641`, type: 'local' }] });
}
process.stdout.write(JSON.stringify({ ready: true, fingerprint: tls.fingerprint, authKey: r.json().secret, port: coord.port }) + '\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await coord.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, id] = line.trim().split(/\s+/);
  if (cmd === 'revoke' && id) {
    void coord.admin.inject({ method: 'POST', url: `/admin/nodes/${encodeURIComponent(id)}/revoke` }).then((res) => process.stdout.write(JSON.stringify({ revoked: id, status: res.statusCode }) + '\n'));
  }
});
rl.on('close', () => void stop());
