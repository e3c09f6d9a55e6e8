/**
 * The one way conegate writes a secret (private keys, later auth keys) to disk: a new file created
 * with O_EXCL and mode 0600 beside the target, the bytes written and synced, then renamed over the
 * target. So no byte of the secret ever sits in a file others can read: not in an existing file whose
 * mode or hard links we do not control (writeFile with `mode` only applies the mode on creation), not
 * in a half-written target after a crash, and not through a symlink planted at the temporary name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConegateError } from '../errors.ts';

export const SECRET_FILE_MODE = 0o600;

/**
 * Writes `data` to `path` as a 0600 file, atomically; CG_COMMAND_FAILED naming the path and errno
 * otherwise. `createDir` first creates a missing parent directory as 0700 (state directories).
 */
export async function writeSecretFile(path: string, data: string | Uint8Array, options: { createDir?: boolean } = {}): Promise<void> {
  if (options.createDir) await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    // 'wx' = O_CREAT | O_EXCL: fails rather than follow a link or reuse a file at the temporary name.
    const fh = await open(tmp, 'wx', SECRET_FILE_MODE);
    created = true;
    try {
      // The umask can only clear bits of 0600; fchmod makes the mode exactly 0600 before the first byte.
      await fh.chmod(SECRET_FILE_MODE);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // rename replaces the directory entry (a symlink at `path` is replaced, not followed).
    await rename(tmp, path);
    created = false;
  } catch (cause) {
    if (created) await rm(tmp, { force: true }).catch(() => undefined);
    throw new ConegateError('CG_COMMAND_FAILED', `cannot write ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause, context: { path } });
  }
}

/**
 * Reads a secret file, refusing one that others can read (like ssh does with private keys): a key
 * that leaked to other users is not silently used. Returns undefined if the file does not exist.
 */
export async function readSecretFile(path: string, what: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConegateError('CG_STATE_CORRUPT', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new ConegateError('CG_NOT_PERMITTED', `${what} ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`, { context: { path } });
  }
  return readFile(path, 'utf8');
}

