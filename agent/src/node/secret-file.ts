/**
 * Secret files (private keys, auth keys): written 0600 from the first byte. The content goes to a
 * temporary file created with mode 0600 (O_EXCL, so nothing else can have it open), is fsynced, then
 * renamed over the target: a crash leaves either the old file or the new one, never a half-written key
 * or a moment where the key is readable by others.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { ConegateError } from '../errors.ts';

export async function writeSecretFile(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    // The umask may have narrowed the mode further, never widened it; make it exact.
    await fh.chmod(0o600);
    await fh.writeFile(content);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
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

