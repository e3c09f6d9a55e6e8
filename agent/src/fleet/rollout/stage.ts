/**
 * The host side of one change before the transaction takes over: the directories the staged files
 * need (the ones made here are recorded, so a revert or a failed upload removes them again), the
 * uploads to per-run staged names beside their targets (a second rollout's uploads never meet ours),
 * and the cleanup when anything fails before apply: no staged or partial file is left.
 */
import { posix } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { TxnFile } from '../device-txn.ts';
import { checkRemotePath, shQuote } from '../ssh-upload.ts';
import type { RemoteHost } from '../types.ts';
import { parentsOf } from './platforms.ts';

export interface StagedUpload {
  file: TxnFile;
  data: Buffer | string;
  mode: number;
}

/** Makes the missing directories (umask 022), printing each one made, in order. */
export function ensureDirsScript(dirs: readonly string[]): string {
  const all = [...new Set(dirs.flatMap(parentsOf))].sort((a, b) => a.split('/').length - b.split('/').length);
  for (const d of all) checkRemotePath(d);
  return ['umask 022', ...all.map((d) => `[ -d ${shQuote(d)} ] || { mkdir ${shQuote(d)} && echo ${shQuote(d)}; } || exit 1`), ''].join('\n');
}

export async function ensureDirs(remote: RemoteHost, dirs: readonly string[], timeoutMs: number): Promise<string[]> {
  if (dirs.length === 0) return [];
  const r = await remote.exec('/bin/sh -s', { stdin: ensureDirsScript(dirs), timeoutMs });
  const made = r.stdout.split('\n').filter(Boolean);
  if (r.code !== 0) {
    await removeDirs(remote, made, timeoutMs).catch(() => {});
    throw new ConegateError('CG_COMMAND_FAILED', `cannot make the directories for the upload: ${r.stderr.trim().slice(0, 200)}`);
  }
  return made;
}

/** Deepest first, only the empty ones (rmdir): what another process put there stays. */
export function removeDirsScript(dirs: readonly string[]): string {
  for (const d of dirs) checkRemotePath(d);
  const deepestFirst = [...dirs].sort((a, b) => b.length - a.length);
  return [...deepestFirst.map((d) => `rmdir ${shQuote(d)} 2>/dev/null`), 'exit 0', ''].join('\n');
}

async function removeDirs(remote: RemoteHost, dirs: readonly string[], timeoutMs: number): Promise<void> {
  if (dirs.length) await remote.exec('/bin/sh -s', { stdin: removeDirsScript(dirs), timeoutMs });
}

/** `TARGET.cg-staged-TAG`: beside the target (the apply's mv is a rename), unique per run. */
export function stagedName(target: string, tag: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(tag)) throw new ConegateError('CG_INPUT_INVALID', `run tag ${JSON.stringify(tag)} must be 1..64 of A-Z a-z 0-9 -`);
  return `${posix.dirname(target)}/.${posix.basename(target)}.cg-staged-${tag}`;
}

/** Uploads every file to its staged name; on any failure removes what it staged and the dirs it made. */
export async function uploadStaged(remote: RemoteHost, uploads: readonly StagedUpload[], madeDirs: readonly string[], timeoutMs: number): Promise<void> {
  try {
    for (const u of uploads) await remote.upload(u.data, u.file.staged, u.mode);
  } catch (err) {
    await cleanupStaged(remote, uploads, madeDirs, timeoutMs);
    throw err;
  }
}

/** Best effort over the same session (a lost session's temp is swept by the next upload of that target). */
export async function cleanupStaged(remote: RemoteHost, uploads: readonly StagedUpload[], madeDirs: readonly string[], timeoutMs: number): Promise<void> {
  const script = [...uploads.map((u) => `rm -f ${shQuote(u.file.staged)}`), removeDirsScript(madeDirs)].join('\n');
  await remote.exec('/bin/sh -s', { stdin: script, timeoutMs }).catch(() => {});
}
