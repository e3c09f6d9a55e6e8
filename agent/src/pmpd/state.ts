/**
 * Persistence of the table and epoch, so a clean restart keeps both and a crash is detected.
 * The file is JSON, written atomically (temp file in the same directory, fsync, rename) with mode
 * 0600. `clean` is false while the server runs and set true by a clean stop: finding false at start
 * means the previous run died and the firewall may disagree with the file, so the table is dropped,
 * the epoch restarts and clients are told by announcement.
 */
import { open, rename, readFile, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { ConegateError } from '../errors.ts';
import type { Mapping } from './table.ts';

export const STATE_VERSION = 1;

export interface PersistedMapping extends Omit<Mapping, 'expiresAtMs'> {
  /** Lifetime left when saved. */
  remainingSec: number;
}

export interface PersistedState {
  version: typeof STATE_VERSION;
  clean: boolean;
  epochSec: number;
  /** Wall-clock ms at save: the only place wall time is used, to carry the epoch over the downtime. */
  savedAtWallMs: number;
  externalAddress?: string;
  backend: string;
  mappings: PersistedMapping[];
}

export function snapshot(args: { mappings: Mapping[]; epochSec: number; nowMs: number; wallNowMs: number; clean: boolean; externalAddress: string | undefined; backend: string }): PersistedState {
  const s: PersistedState = {
    version: STATE_VERSION,
    clean: args.clean,
    epochSec: args.epochSec,
    savedAtWallMs: args.wallNowMs,
    backend: args.backend,
    mappings: args.mappings.map(({ expiresAtMs, ...m }) => ({ ...m, remainingSec: Math.max(0, Math.ceil((expiresAtMs - args.nowMs) / 1000)) })),
  };
  if (args.externalAddress !== undefined) s.externalAddress = args.externalAddress;
  return s;
}

/** The mappings still alive after the downtime, on this run's monotonic clock; and the carried epoch. */
export function restore(s: PersistedState, nowMs: number, wallNowMs: number): { mappings: Mapping[]; epochSec: number } {
  const downSec = Math.max(0, Math.floor((wallNowMs - s.savedAtWallMs) / 1000));
  const mappings = s.mappings
    .filter((m) => m.remainingSec > downSec)
    .map(({ remainingSec, ...m }) => ({ ...m, expiresAtMs: nowMs + (remainingSec - downSec) * 1000 }));
  return { mappings, epochSec: s.epochSec + downSec };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** Parses and checks a state file's text; anything unexpected is CG_STATE_CORRUPT (treated as lost state). */
export function parseState(text: string, path = 'state file'): PersistedState {
  const bad = (why: string): never => {
    throw new ConegateError('CG_STATE_CORRUPT', `${path}: ${why}; delete it or let the server start fresh`, { context: { path } });
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (!isObj(v) || v.version !== STATE_VERSION) return bad('unknown format version');
  if (typeof v.clean !== 'boolean' || !Number.isInteger(v.epochSec) || typeof v.savedAtWallMs !== 'number' || typeof v.backend !== 'string') return bad('missing fields');
  if (!Array.isArray(v.mappings)) return bad('mappings is not a list');
  for (const m of v.mappings) {
    if (!isObj(m) || typeof m.id !== 'string' || (m.transport !== 'udp' && m.transport !== 'tcp') || typeof m.internalAddress !== 'string' || typeof m.client !== 'string') return bad('a mapping is malformed');
    if (!isPort(m.internalPort) || !isPort(m.externalPort) || !Number.isInteger(m.remainingSec) || !Number.isInteger(m.lifetimeSec)) return bad('a mapping has bad numbers');
  }
  return v as unknown as PersistedState;
}

/** Reads the state file; undefined when it does not exist. */
export async function readState(path: string): Promise<PersistedState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConegateError('CG_STATE_CORRUPT', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseState(text, path);
}

let tmpSeq = 0;

/** Writes the state atomically: a reader (or a crash) sees the old file or the new one, never half. */
export async function writeStateAtomic(path: string, state: PersistedState): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${tmpSeq++}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(state, null, 1) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
