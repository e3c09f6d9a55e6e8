/**
 * `conegate coord serve` behind the CLI: checks the options, opens the store named by --db, loads or
 * makes the TLS identity, reads the relay map, and starts a Coordinator. Every problem with the
 * options is a ConegateError naming the option (exit 2) before anything listens or is written.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { realClock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { parseCidr } from '../../net/ip.ts';
import { parseListen } from '../../net/listen.ts';
import type { RelayMap } from '../protocol.ts';
import { MAP_FORMATS, relayMapFileSchema } from '../schemas.ts';
import { readSecretFile, writeSecretFile } from '../../secrets/file.ts';
import { isPostgresUrl, openCoordStore } from '../store/index.ts';
import { Coordinator } from './coordinator.ts';
import { loadTls, selfSignedTls, type TlsIdentity } from './tls.ts';

export const DEFAULT_DB_DIR = '/var/lib/conegate/coord';

export interface ServeOptions {
  listen: string;
  db: string;
  tlsCert?: string;
  tlsKey?: string;
  selfSigned?: boolean;
  /** Where a self-signed identity lives when --db is PostgreSQL (default DEFAULT_DB_DIR). */
  tlsDir?: string;
  prefix?: string;
  prefix6?: string;
  relayMap?: string;
  /** File holding the secret relay servers authenticate with (made 0600 with a random secret if missing). */
  relaySecretFile?: string;
  adminSocket: string;
  /** "BURST:PERSEC" for /v1/register per source address. */
  registerLimit?: string;
}

export interface RunningCoordinator {
  coordinator: Coordinator;
  listen: string;
  fingerprint: string;
  stop(): Promise<void>;
}

/** host and port from ADDR:PORT or [v6]:PORT; the address must be a literal IP (what we bind). */
function checkPrefix(flag: string, text: string | undefined, family: 4 | 6): void {
  if (text === undefined) return;
  const c = parseCidr(text);
  if (!c || c.family !== family || !text.includes('/')) throw new ConegateError('CG_USAGE', `${flag} ${text}: expected an IPv${family} prefix in CIDR form with zero host bits`);
}

export async function readRelayMap(file: string | undefined): Promise<RelayMap> {
  if (!file) return { regions: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `--relay-map ${file}: cannot read it as JSON`, { cause });
  }
  const ajv = new Ajv({ allErrors: true, strict: false });
  for (const [name, validate] of Object.entries(MAP_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
  const validate = ajv.compile(relayMapFileSchema);
  if (!validate(parsed)) {
    const first = validate.errors?.[0];
    throw new ConegateError('CG_CONFIG_INVALID', `--relay-map ${file}: ${first?.instancePath || '/'} ${first?.message ?? 'is not a relay map'}`);
  }
  return parsed as RelayMap;
}

/** The relay secret in `file`: read if it exists, otherwise made (32 random bytes, base64url) and written 0600. */
export async function relaySecretFrom(file: string): Promise<string> {
  const existing = await readSecretFile(file, 'the relay secret');
  if (existing === undefined) {
    const secret = randomBytes(32).toString('base64url');
    await writeSecretFile(file, `${secret}\n`, { createDir: true });
    return secret;
  }
  const secret = existing.trim();
  if (!/^[A-Za-z0-9_-]{32,256}$/.test(secret)) throw new ConegateError('CG_CONFIG_INVALID', `--relay-secret-file ${file}: expected one line of 32 to 256 characters A-Z a-z 0-9 _ -`);
  return secret;
}

async function tlsFor(o: ServeOptions, host: string): Promise<TlsIdentity> {
  if (o.selfSigned && (o.tlsCert || o.tlsKey)) throw new ConegateError('CG_USAGE', 'use either --self-signed or --tls-cert with --tls-key, not both');
  if (o.selfSigned) {
    const dir = isPostgresUrl(o.db) ? (o.tlsDir ?? DEFAULT_DB_DIR) : o.db;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return selfSignedTls(dir, host === '0.0.0.0' || host === '::' ? [] : [host]);
  }
  if (!o.tlsCert || !o.tlsKey) throw new ConegateError('CG_USAGE', 'the coordinator serves HTTPS only: pass --tls-cert and --tls-key, or --self-signed');
  return loadTls(o.tlsCert, o.tlsKey);
}

export async function serveCoordinator(o: ServeOptions, log: Logger): Promise<RunningCoordinator> {
  const { host, port } = parseListen(o.listen);
  checkPrefix('--prefix', o.prefix, 4);
  checkPrefix('--prefix6', o.prefix6, 6);
  const limit = /^(\d{1,7}):(\d{1,7})$/.exec(o.registerLimit ?? '20:2');
  if (!limit || Number(limit[1]) < 1 || Number(limit[2]) < 1) throw new ConegateError('CG_USAGE', `--register-limit ${o.registerLimit}: expected BURST:PERSEC, both at least 1`);
  const relays = await readRelayMap(o.relayMap);
  const relaySecret = o.relaySecretFile ? await relaySecretFrom(o.relaySecretFile) : undefined;
  const tls = await tlsFor(o, host);
  const bytes = (n: number) => randomBytes(n);
  const store = await openCoordStore(o.db, { randomBytes: bytes });
  const coordinator = new Coordinator(
    { host, port, tls, relays, ...(relaySecret ? { relaySecret } : {}), adminSocket: o.adminSocket, registerLimit: { burst: Number(limit[1]), perSec: Number(limit[2]), maxKeys: 10_000 }, ...(o.prefix ? { prefix4: o.prefix } : {}), ...(o.prefix6 ? { prefix6: o.prefix6 } : {}) },
    { store, clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: bytes, log },
  );
  try {
    await coordinator.start();
  } catch (err) {
    await coordinator.stop().catch(() => {});
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ConegateError('CG_NETWORK', `cannot listen on ${o.listen} or ${o.adminSocket}: ${code}`, { cause: err });
    throw err;
  }
  const shown = host.includes(':') ? `[${host}]:${coordinator.port}` : `${host}:${coordinator.port}`;
  return {
    coordinator,
    listen: shown,
    fingerprint: tls.fingerprint,
    async stop() {
      await coordinator.stop();
      await store.close();
    },
  };
}

