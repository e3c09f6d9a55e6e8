/**
 * The page's login token: 32 random bytes (base64url) in a 0600 file, created on first use. `conegate
 * web token` prints it; `--rotate` replaces it (the running server reads the file on each login, so
 * the old token stops working at once, and the server ends the sessions it gave).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../config/types.ts';
import { ConegateError } from '../errors.ts';
import { readSecretFile, writeSecretFile } from '../secrets/file.ts';

export function tokenFileOf(config: Config, stateDir: string): string {
  return config.web.tokenFile ?? join(stateDir, 'web.token');
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The token, creating the file when missing. */
export async function ensureToken(path: string): Promise<string> {
  const have = (await readSecretFile(path, 'web token file'))?.trim();
  if (have) {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(have)) throw new ConegateError('CG_STATE_CORRUPT', `web token file ${path} does not hold a token; replace it with conegate web token --rotate`);
    return have;
  }
  const t = newToken();
  await writeSecretFile(path, t + '\n', { createDir: true });
  return t;
}

export async function rotateToken(path: string): Promise<string> {
  const t = newToken();
  await writeSecretFile(path, t + '\n', { createDir: true });
  return t;
}
