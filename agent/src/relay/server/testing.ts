/**
 * Test helpers: a RelayServer behind its real HTTPS edge on 127.0.0.1 (port 0, throwaway self-signed
 * certificate), and small test clients that log in with dialRelay and collect what they receive,
 * with bounded waits (never fixed sleeps).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock, type Clock } from '../../clock/clock.ts';
import { createLogger } from '../../log/logger.ts';
import { selfSignedCert, type TestCert } from '../../../../test/fakes/tls-cert.ts';
import type { RelayMessage } from '../frames-message.ts';
import { dialRelay, type DialOptions, type RelayLink } from '../mesh/dial.ts';
import { staticAdmission, type Admission } from './admission.ts';
import { createRelayHttpsServer } from './https.ts';
import { RelayServer, type MeshForwarder, type RelayServerConfig } from './relay-server.ts';

let certPromise: Promise<TestCert> | undefined;
/** One certificate per test process: openssl is slow on a busy machine. */
export function testCert(): Promise<TestCert> {
  certPromise ??= selfSignedCert();
  return certPromise;
}

export interface TestNode {
  secret: Uint8Array;
  key: Uint8Array;
  hex: string;
}

export function newNode(): TestNode {
  const secret = x25519.utils.randomSecretKey();
  const key = x25519.getPublicKey(secret);
  return { secret, key, hex: Buffer.from(key).toString('hex') };
}

export interface TestRelay {
  relay: RelayServer;
  url: string;
  fingerprint: string;
  port: number;
  admission: Admission & { keys?: Set<string> };
  stop(): Promise<void>;
}

export async function startTestRelay(opts: { config?: Partial<RelayServerConfig>; admission?: Admission & { keys?: Set<string> }; mesh?: MeshForwarder; clock?: Clock } = {}): Promise<TestRelay> {
  const cert = await testCert();
  const admission = opts.admission ?? staticAdmission([]);
  const relay = new RelayServer(
    { serverSecret: x25519.utils.randomSecretKey(), ...opts.config },
    { clock: opts.clock ?? realClock, log: createLogger({ level: 'silent' }), random: Math.random, randomBytes: (n) => Uint8Array.from(randomBytes(n)), admission, ...(opts.mesh ? { mesh: opts.mesh } : {}) },
  );
  relay.start();
  const server = createRelayHttpsServer(relay, { key: cert.key, cert: cert.cert });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    relay,
    url: `https://127.0.0.1:${port}`,
    fingerprint: cert.fingerprint,
    port,
    admission,
    async stop() {
      relay.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A logged-in test client that keeps every message it receives. */
export interface TestClient {
  link: RelayLink;
  node: TestNode;
  messages: RelayMessage[];
  closed: Promise<string>;
  /** Resolves with the first message (already received or future) that matches; rejects after timeoutMs. */
  waitFor(pred: (m: RelayMessage) => boolean, timeoutMs?: number): Promise<RelayMessage>;
}

export async function connectClient(r: { url: string; fingerprint: string }, node = newNode(), extra: Partial<DialOptions> = {}): Promise<TestClient> {
  const link = await dialRelay({ url: r.url, trust: { fingerprint: r.fingerprint }, secret: node.secret, ...extra });
  const messages: RelayMessage[] = [];
  const waiters: { pred: (m: RelayMessage) => boolean; resolve: (m: RelayMessage) => void }[] = [];
  link.onMessage((m) => {
    messages.push(m);
    for (const w of [...waiters]) if (w.pred(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const closed = new Promise<string>((resolve) => link.onClose(resolve));
  return {
    link,
    node,
    messages,
    closed,
    waitFor(pred, timeoutMs = 5_000) {
      const have = messages.find(pred);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for a relay message')), timeoutMs);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
      });
    },
  };
}

/** Waits until cond() holds, checking on every turn of the event loop, for at most timeoutMs. */
export async function waitUntil(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
