/**
 * Upload over any exec channel: stream the bytes to a temporary name beside the target, check the
 * sha256 on the host, then chmod + mv (rename(2): the target is the old file or the whole new one,
 * never a part). Shared by the ssh2 edge and the local twin, so both behave the same.
 *
 * Shell-proof: the streaming command is one line that sh, csh/tcsh and a menu wrapper passing `-c` to
 * sh all parse the same way (`umask 077; cat > PATH`, PATH from a safe character set), so the file is
 * 0600 from its first byte; everything else runs as a script on stdin of `/bin/sh -s`.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ConegateError, isConegateError } from '../errors.ts';
import type { ExecResult } from './types.ts';

/** Stdin a runner accepts: bytes, or a stream (uploads stream files instead of holding them). */
export type StdinSource = string | Buffer | Readable;
export type ExecRunner = (cmd: string, stdin: StdinSource | undefined, timeoutMs: number) => Promise<ExecResult>;

/** Characters a remote path may hold: nothing any login shell treats specially. */
const SAFE_PATH = /^\/[A-Za-z0-9._/@+-]*$/;

export function checkRemotePath(p: string): void {
  if (!SAFE_PATH.test(p) || p.endsWith('/') || p.split('/').some((c) => c === '..' || c === '.')) {
    throw new ConegateError('CG_INPUT_INVALID', `remote path ${JSON.stringify(p)} must be absolute, without . or .. and only A-Z a-z 0-9 . _ / @ + -`);
  }
}

export function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new ConegateError('CG_INPUT_INVALID', `file mode ${mode} is not 0..07777`);
}

/** `/dir/.name.cg-RAND.tmp`: beside the target (same filesystem, so mv is a rename). */
export function tempPathFor(target: string, rand: string): string {
  return posix.join(posix.dirname(target), `.${posix.basename(target)}.cg-${rand}.tmp`);
}

/** POSIX sh single-quoting (the script travels on stdin, so only sh parses it). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Exit statuses of the finalize script. */
export const FINALIZE = { ok: 0, noTool: 3, mismatch: 4, renameFailed: 5 } as const;

/**
 * Checks the temp file's sha256 (GNU `sha256sum`, FreeBSD `sha256 -q`), then chmod + mv; removes it on
 * any failure. After a good rename, stale temps of this target (a connection that died before its
 * cleanup could run) are swept.
 */
export function finalizeScript(tmp: string, target: string, sha256Hex: string, mode: number): string {
  const stalePattern = `${posix.dirname(target)}/.${posix.basename(target)}.cg-*.tmp`;
  return [
    `t=${shQuote(tmp)}; f=${shQuote(target)}; want=${shQuote(sha256Hex)}`,
    'if command -v sha256sum >/dev/null 2>&1; then got=$(sha256sum < "$t" | cut -d" " -f1)',
    'elif command -v sha256 >/dev/null 2>&1; then got=$(sha256 -q "$t")',
    `else rm -f "$t"; echo "no sha256sum or sha256 on the host" >&2; exit ${FINALIZE.noTool}; fi`,
    `if [ "$got" != "$want" ]; then rm -f "$t"; echo "sha256 on the host is $got" >&2; exit ${FINALIZE.mismatch}; fi`,
    `if ! chmod ${mode.toString(8).padStart(4, '0')} "$t" || ! mv -f "$t" "$f"; then rm -f "$t"; exit ${FINALIZE.renameFailed}; fi`,
    `for s in ${shQuote(stalePattern).replace(/\*/g, `'*'`)}; do [ -e "$s" ] && rm -f "$s"; done`,
    'exit 0',
    '',
  ].join('\n');
}

/** A stream of the upload's bytes that hashes what it passes on (the hash of what was actually sent). */
function hashedSource(local: Buffer | string): { stream: Readable; digest: () => string; close: () => void } {
  const hash = createHash('sha256');
  const src = Buffer.isBuffer(local) ? Readable.from([local]) : createReadStream(local);
  const out = new PassThrough();
  src.on('data', (c: Buffer) => hash.update(c));
  src.on('error', (err: Error) => out.destroy(new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${String(local)}: ${err.message}`, { cause: err })));
  src.pipe(out);
  // close: the local file is let go whatever happened (a failed upload must not keep its descriptor, nor a
  // read pending on a pipe, which would keep the controller from exiting).
  return { stream: out, digest: () => hash.digest('hex'), close: () => (src.destroy(), out.destroy()) };
}

export interface UploadOptions {
  timeoutMs: number;
  randomHex: () => string;
  /** Removes the temp file when the session that wrote it is gone (e.g. over a new connection). */
  cleanupAfterLoss?: (tmp: string) => Promise<boolean>;
}

export async function uploadVia(run: ExecRunner, local: Buffer | string, remotePath: string, mode: number, o: UploadOptions): Promise<void> {
  checkRemotePath(remotePath);
  checkMode(mode);
  if (!Buffer.isBuffer(local)) {
    // A missing local file is found before anything is written on the host.
    try {
      await access(local, fsConstants.R_OK);
    } catch (err) {
      throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${local}: ${(err as Error).message}`, { cause: err });
    }
  }
  const tmp = tempPathFor(remotePath, o.randomHex());
  const src = hashedSource(local);
  try {
    const w = await run(`umask 077; cat > ${tmp}`, src.stream, o.timeoutMs);
    if (w.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `writing ${tmp} failed (exit ${w.code}): ${w.stderr.trim()}`, { context: { path: remotePath } });
    const f = await run('/bin/sh -s', finalizeScript(tmp, remotePath, src.digest(), mode), o.timeoutMs);
    if (f.code === FINALIZE.mismatch) throw new ConegateError('CG_COMMAND_FAILED', `upload of ${remotePath} arrived damaged: ${f.stderr.trim()}`, { context: { path: remotePath } });
    if (f.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `installing ${remotePath} failed (exit ${f.code}): ${f.stderr.trim()}`, { context: { path: remotePath } });
  } catch (err) {
    const removed = await removeTemp(run, tmp, err, o);
    if (isConegateError(err)) err.context.tempRemoved = removed;
    throw err;
  } finally {
    src.close();
  }
}

async function removeTemp(run: ExecRunner, tmp: string, err: unknown, o: UploadOptions): Promise<boolean> {
  const lost = isConegateError(err) && (err.code === 'CG_CONNECTION_LOST' || err.code === 'CG_TIMEOUT');
  try {
    if (lost) return o.cleanupAfterLoss ? await o.cleanupAfterLoss(tmp) : false;
    return (await run(`rm -f ${tmp}`, undefined, 10_000)).code === 0;
  } catch {
    return false;
  }
}
