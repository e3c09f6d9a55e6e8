/**
 * Paths inside a root: a live appliance at "/" or a copied backup tree. Symlinks are resolved inside
 * the root, never against the host, component by component, so a link anywhere on the way (pfSense's
 * /conf -> /cf/conf) is followed; absolute targets restart at the root.
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';

const MAX_LINKS = 32;

/** The host path of an appliance path inside root, or undefined when it does not exist (or loops). */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const pending = posix.normalize('/' + path).split('/').filter((c) => c !== '');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const full = posix.join(root, ...done, part);
    let st;
    try {
      st = await lstat(full);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = await readlink(full);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return posix.join(root, ...done);
}
