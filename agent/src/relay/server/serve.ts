/**
 * `conegate relay serve` behind the CLI: checks every option (CG_USAGE / CG_CONFIG_* naming it) before
 * anything listens or is written, then loads or makes the server key and TLS identity, wires admission,
 * the region mesh and STUN, and listens. Admission is mandatory: a relay that would serve anyone is not
 * an option (--coordinator with its secret, or --admission-allow-file).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:https';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock } from '../../clock/clock.ts';
import { parseListen } from '../../net/listen.ts';
import { loadTls, selfSignedTls, type TlsIdentity } from '../../coord/server/tls.ts';
import { normalizeFingerprint } from '../../coord/tls-pin.ts';
import { ConegateError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { readSecretFile, writeSecretFile } from '../../secrets/file.ts';
import { openDgramBind } from '../../stun/dgram-bind.ts';
import { StunServer } from '../../stun/server.ts';
import { RelayMesh, type MeshPeer } from '../mesh/mesh.ts';
import { coordinatorAdmission, fileAdmission, type Admission } from './admission.ts';
import { createRelayHttpsServer } from './https.ts';
import { RelayServer } from './relay-server.ts';

export const DEFAULT_RELAY_STATE_DIR = '/var/lib/conegate/relay';
export const SERVER_KEY_FILE = 'relay-server.key';

export interface RelayServeOptions {
  listen: string;
  stun?: string;
  tlsCert?: string;
  tlsKey?: string;
  selfSigned?: boolean;
  stateDir: string;
  region?: string;
  coordinator?: string;
  coordinatorFingerprint?: string;
  coordinatorSecretFile?: string;
  admissionAllowFile?: string;
  meshKeyFile?: string;
  meshPeer: string[];
  /** Per-client read limit in bytes/s; 0 or absent = unlimited. */
  clientRate?: number;
}

export interface RunningRelay {
  relay: RelayServer;
  listen: string;
  fingerprint: string;
  serverKey: string;
  stun?: string;
  region?: string;
  stop(): Promise<void>;
}

/** `https://host:port` with an optional `#sha256=HEX` pin of that relay's certificate. */
export function parseMeshPeer(text: string): MeshPeer {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConegateError('CG_USAGE', `--mesh-peer ${text}: not a URL (expected https://HOST:PORT[#sha256=HEX])`);
  }
  if (url.protocol !== 'https:') throw new ConegateError('CG_USAGE', `--mesh-peer ${text}: relays speak https only`);
  let fingerprint: string | undefined;
  if (url.hash) {
    fingerprint = normalizeFingerprint(url.hash.replace(/^#sha256=/, ''));
    if (!url.hash.startsWith('#sha256=') || !fingerprint) throw new ConegateError('CG_USAGE', `--mesh-peer ${text}: the fragment must be #sha256=<64 hex digits>`);
  }
  return { url: `${url.protocol}//${url.host}`, trust: fingerprint ? { fingerprint } : {} };
}

async function secretLine(file: string, what: string, pattern: RegExp, expected: string): Promise<string> {
  const text = await readSecretFile(file, what);
  if (text === undefined) throw new ConegateError('CG_CONFIG_UNREADABLE', `${what} ${file} does not exist`);
  const v = text.trim();
  if (!pattern.test(v)) throw new ConegateError('CG_CONFIG_INVALID', `${what} ${file}: expected ${expected}`);
  return v;
}

async function admissionFor(o: RelayServeOptions): Promise<Admission> {
  if (o.coordinator && o.admissionAllowFile) throw new ConegateError('CG_USAGE', 'use either --coordinator or --admission-allow-file, not both');
  if (o.admissionAllowFile) {
    const a = fileAdmission(o.admissionAllowFile);
    await a.admitted([]); // unreadable or malformed now is a usage error now, not a refused login later
    return a;
  }
  if (!o.coordinator) throw new ConegateError('CG_USAGE', 'the relay admits only known nodes: give --coordinator URL (with --coordinator-secret-file) or --admission-allow-file FILE');
  if (!o.coordinatorSecretFile) throw new ConegateError('CG_USAGE', '--coordinator needs --coordinator-secret-file (the file coord serve --relay-secret-file made)');
  let fingerprint: string | undefined;
  if (o.coordinatorFingerprint !== undefined) {
    fingerprint = normalizeFingerprint(o.coordinatorFingerprint);
    if (!fingerprint) throw new ConegateError('CG_USAGE', `--coordinator-fingerprint ${o.coordinatorFingerprint}: expected a SHA-256 (64 hex digits, colons allowed)`);
  }
  const secret = await secretLine(o.coordinatorSecretFile, 'the relay secret', /^[A-Za-z0-9_-]{32,256}$/, 'one line of 32 to 256 characters A-Z a-z 0-9 _ -');
  try {
    return coordinatorAdmission({ url: o.coordinator, trust: fingerprint ? { fingerprint } : {}, secret, clock: realClock });
  } catch (err) {
    if (err instanceof TypeError) throw new ConegateError('CG_USAGE', `--coordinator ${o.coordinator}: not a URL`);
    throw err;
  }
}

/** The relay's X25519 key, kept in the state directory (0600) so its identity survives restarts. */
async function serverSecret(dir: string): Promise<Uint8Array> {
  const file = `${dir}/${SERVER_KEY_FILE}`;
  const text = await readSecretFile(file, 'the relay server key');
  if (text === undefined) {
    const secret = x25519.utils.randomSecretKey();
    await writeSecretFile(file, `${Buffer.from(secret).toString('hex')}\n`, { createDir: true });
    return secret;
  }
  if (!/^[0-9a-f]{64}$/.test(text.trim())) throw new ConegateError('CG_STATE_CORRUPT', `${file} is not a relay server key (64 hex digits)`);
  return Uint8Array.from(Buffer.from(text.trim(), 'hex'));
}

async function tlsFor(o: RelayServeOptions, host: string): Promise<TlsIdentity> {
  if (o.selfSigned && (o.tlsCert || o.tlsKey)) throw new ConegateError('CG_USAGE', 'use either --self-signed or --tls-cert with --tls-key, not both');
  if (o.selfSigned) return selfSignedTls(o.stateDir, host === '0.0.0.0' || host === '::' ? [] : [host], { base: 'relay-tls', cn: 'conegate-relay' });
  if (!o.tlsCert || !o.tlsKey) throw new ConegateError('CG_USAGE', 'the relay serves TLS only: pass --tls-cert and --tls-key, or --self-signed');
  return loadTls(o.tlsCert, o.tlsKey);
}

export async function serveRelay(o: RelayServeOptions, log: Logger): Promise<RunningRelay> {
  const { host, port } = parseListen(o.listen);
  const stunAt = o.stun === undefined ? undefined : parseListen(o.stun);
  if (o.region !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(o.region)) throw new ConegateError('CG_USAGE', `--region ${o.region}: 1 to 32 of A-Z a-z 0-9 _ . -`);
  if (o.meshPeer.length > 0 && !o.meshKeyFile) throw new ConegateError('CG_USAGE', '--mesh-peer needs --mesh-key-file (the key the relays of the region share)');
  const peers = o.meshPeer.map(parseMeshPeer);
  const meshKey = o.meshKeyFile ? await secretLine(o.meshKeyFile, 'the mesh key', /^[0-9a-f]{64}$/, '64 lowercase hex characters') : undefined;
  const admission = await admissionFor(o);
  await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  const tls = await tlsFor(o, host);
  const secret = await serverSecret(o.stateDir);
  const bytes = (n: number) => Uint8Array.from(randomBytes(n));
  const rate = o.clientRate ? { perSec: o.clientRate, burst: Math.max(o.clientRate, 64 * 1024 + 32) } : undefined;
  const relay = new RelayServer({ serverSecret: secret, ...(meshKey ? { meshKey } : {}), ...(rate ? { clientReadLimit: rate } : {}) }, { clock: realClock, log, random: Math.random, randomBytes: bytes, admission });
  const mesh = meshKey && peers.length > 0 ? new RelayMesh({ peers, meshKey, secret }, { clock: realClock, log }) : undefined;
  if (mesh) {
    mesh.onPeerGone = (k, h) => relay.peerGone(k, h);
    relay.attachMesh(mesh);
  }
  const server = createRelayHttpsServer(relay, { key: tls.key, cert: tls.cert });
  const stun = stunAt ? new StunServer([{ primary: { address: stunAt.host, port: stunAt.port } }], { openBind: openDgramBind }) : undefined;
  const stopAll = async (): Promise<void> => {
    mesh?.stop();
    relay.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stun?.stop();
  };
  try {
    await listen(server, host, port);
    await stun?.start();
  } catch (err) {
    await stopAll().catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ConegateError('CG_NETWORK', `cannot listen on ${o.listen}${o.stun ? ` or ${o.stun}` : ''}: ${code}`, { cause: err });
    throw err;
  }
  relay.start();
  mesh?.start();
  const bound = (server.address() as AddressInfo).port;
  const stunBound = stun?.endpoints[0];
  return {
    relay,
    listen: host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`,
    fingerprint: tls.fingerprint,
    serverKey: Buffer.from(relay.serverKey).toString('hex'),
    ...(stunBound ? { stun: `${stunBound.address.includes(':') ? `[${stunBound.address}]` : stunBound.address}:${stunBound.port}` } : {}),
    ...(o.region ? { region: o.region } : {}),
    stop: stopAll,
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
