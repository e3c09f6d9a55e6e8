/**
 * Lab peer for test/lab/relay-proxy.test.ts, run in a lab namespace with `node --import tsx`:
 *   relay  --listen ADDR --port N --cert F --key F --allow-file F
 *          the relay server (agent/src/relay/server) behind its HTTPS edge; prints "relay: listening".
 *   client --secret-file F --url URL --pin HEX --peer HEX [--proxy URL]
 *          the relay client (createRelayClient); sends to --peer every 200 ms (at most 100 times) until it
 *          has heard from it, then 5 more (so the peer hears us too); prints one JSON line; exit 0 if heard.
 *   dial   --url URL --pin HEX [--proxy URL] [--timeout-ms N]
 *          one dial (proxy, TLS, upgrade); prints {"ok":true} or {"ok":false,"code","message"}; exit 0 / 1.
 * The proxy comes from --proxy as `mesh.proxy` would give it, or from HTTPS_PROXY when absent.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock } from '../../agent/src/clock/clock.ts';
import { isConegateError } from '../../agent/src/errors.ts';
import { createLogger } from '../../agent/src/log/logger.ts';
import { createRelayClient } from '../../agent/src/relay/client/create.ts';
import { dialRelay } from '../../agent/src/relay/client/dial.ts';
import { fileAdmission } from '../../agent/src/relay/server/admission.ts';
import { createRelayHttpsServer } from '../../agent/src/relay/server/https.ts';
import { RelayServer } from '../../agent/src/relay/server/relay-server.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
function need(name: string): string {
  const v = arg(name);
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

const log = createLogger({ level: 'warn' });
const rnd = (n: number) => new Uint8Array(randomBytes(n));

async function relay(): Promise<void> {
  const server = new RelayServer({ serverSecret: x25519.utils.randomSecretKey() }, { clock: realClock, log, random: Math.random, randomBytes: rnd, admission: fileAdmission(need('allow-file')) });
  server.start();
  const https = createRelayHttpsServer(server, { key: readFileSync(need('key'), 'utf8'), cert: readFileSync(need('cert'), 'utf8') });
  await new Promise<void>((res) => https.listen(Number(need('port')), need('listen'), res));
  process.stdout.write('relay: listening\n');
  process.on('SIGTERM', () => {
    server.stop();
    https.closeAllConnections();
    https.close(() => process.exit(0));
  });
}

async function client(): Promise<void> {
  const secret = Uint8Array.from(Buffer.from(readFileSync(need('secret-file'), 'utf8').trim(), 'hex'));
  const peer = need('peer');
  const proxy = arg('proxy');
  const link = createRelayClient(proxy !== undefined ? { proxy } : {}, { clock: realClock, log, nodeSecret: secret });
  let heard = 0;
  link.onReceive((src) => {
    if (src === peer) heard++;
  });
  link.setRelayMap({ regions: [{ id: 'lab', name: 'Lab', nodes: [{ url: need('url'), certSha256: need('pin') }] }] });
  let extra = 0;
  for (let i = 0; i < 100 && extra < 5; i++) {
    link.send('lab', peer, Uint8Array.of(i & 0xff));
    if (heard > 0) extra++;
    await new Promise((r) => setTimeout(r, 200));
  }
  const st = link.status().regions[0];
  process.stdout.write(`${JSON.stringify({ heard, connected: st?.connected, viaProxy: st?.viaProxy, transport: st?.transport, lastError: link.regionDetails().lab?.lastError })}\n`);
  await link.close();
  process.exit(heard > 0 ? 0 : 1);
}

async function dial(): Promise<void> {
  const proxy = arg('proxy');
  try {
    const d = await dialRelay(
      { url: need('url'), certSha256: need('pin') },
      { proxy: { ...(proxy !== undefined ? { config: proxy } : {}), env: process.env }, transport: 'upgrade', randomBytes: rnd, timeoutMs: Number(arg('timeout-ms') ?? 10_000) },
    );
    d.stream.close();
    process.stdout.write(`${JSON.stringify({ ok: true, proxy: d.proxy })}\n`);
    process.exit(0);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ ok: false, code: isConegateError(err) ? err.code : 'unknown', message: (err as Error).message })}\n`);
    process.exit(1);
  }
}

const mode = process.argv[2];
const run = mode === 'relay' ? relay : mode === 'client' ? client : mode === 'dial' ? dial : undefined;
if (!run) {
  process.stderr.write('usage: relay-proxy-peer.ts relay|client|dial ...\n');
  process.exit(2);
}
run().catch((err) => {
  process.stderr.write(`relay-proxy-peer: ${(err as Error).message}\n`);
  process.exit(1);
});
