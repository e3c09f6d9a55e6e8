/**
 * The run state file: what `fleet resume` needs to continue a run (its options, as the CLI gave them)
 * and `fleet rollback` to undo it (per host: the version and package it came from). Written after
 * every host-done, atomically (a temp file beside it, 0600 from the first byte, fsync, rename), so a
 * controller killed at any moment leaves the previous state or the next one, never a torn file. The
 * results can hold config diffs (keys): 0600, and never logged.
 */
import { readFile } from 'node:fs/promises';
import { ConegateError } from '../../errors.ts';
import { writeSecretFile } from '../../secrets/file.ts';
import type { HostOutcome, HostResult } from './contract.ts';

export const RUN_STATE_FORMAT = 'conegate-fleet-run/1';

export interface RunState {
  format: typeof RUN_STATE_FORMAT;
  runId: string;
  /** The options the run was started with (CLI form), reused by resume and rollback. */
  options: Record<string, unknown>;
  /** Every selected host, inventory order. */
  hosts: string[];
  /** Per host, the last result. */
  results: Record<string, HostResult>;
  updatedAtMs: number;
}

/** Outcomes after which a host needs nothing more from this run. */
const DONE: ReadonlySet<HostOutcome> = new Set(['changed', 'unchanged', 'checked']);

/** Hosts resume works on: not attempted, skipped, or not done (failed / reverted are tried again). */
export function hostsToResume(state: RunState): string[] {
  return state.hosts.filter((h) => !state.results[h] || !DONE.has(state.results[h]!.outcome));
}

export async function writeRunState(file: string, state: RunState): Promise<void> {
  try {
    await writeSecretFile(file, JSON.stringify(state, null, 2) + '\n');
  } catch (err) {
    throw new ConegateError('CG_STORE_FAILED', `cannot write the run state ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export async function readRunState(file: string): Promise<RunState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read the run state ${file}: ${(err as Error).message}`, { cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ConegateError('CG_STATE_CORRUPT', `${file} is not JSON: not a fleet run state`);
  }
  return checkRunState(v, file);
}

function checkRunState(v: unknown, file: string): RunState {
  const bad = (why: string): never => { throw new ConegateError('CG_STATE_CORRUPT', `${file} is not a fleet run state: ${why}`); };
  if (typeof v !== 'object' || v === null) bad('not an object');
  const s = v as Record<string, unknown>;
  if (s.format !== RUN_STATE_FORMAT) bad(`format is ${JSON.stringify(s.format)}, expected ${RUN_STATE_FORMAT}`);
  if (typeof s.runId !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(s.runId)) bad('runId');
  if (typeof s.options !== 'object' || s.options === null || Array.isArray(s.options)) bad('options');
  if (!Array.isArray(s.hosts) || !s.hosts.every((h) => typeof h === 'string')) bad('hosts');
  if (typeof s.results !== 'object' || s.results === null || Array.isArray(s.results)) bad('results');
  for (const [name, r] of Object.entries(s.results as Record<string, unknown>)) {
    const o = r as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || o.host !== name || typeof o.outcome !== 'string' || !Array.isArray(o.changes)) bad(`result of ${name}`);
  }
  return s as unknown as RunState;
}
