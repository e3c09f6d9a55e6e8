import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConegateError } from '../errors.ts';
import { writeSecretFile } from './file.ts';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'conegate-secret-'));
}

test('a new secret file is 0600 whatever the umask', async () => {
  const dir = scratch();
  const old = process.umask(0);
  try {
    await writeSecretFile(join(dir, 'key'), 'secret\n');
    assert.equal(statSync(join(dir, 'key')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'key'), 'utf8'), 'secret\n');
    assert.deepEqual(readdirSync(dir), ['key'], 'no temporary file left');
  } finally {
    process.umask(old);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing world-readable file is replaced, never written into (its other links keep the old bytes)', async () => {
  const dir = scratch();
  try {
    const path = join(dir, 'key');
    writeFileSync(path, 'old\n', { mode: 0o644 });
    linkSync(path, join(dir, 'other-link'));
    await writeSecretFile(path, 'secret\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), 'secret\n');
    assert.equal(readFileSync(join(dir, 'other-link'), 'utf8'), 'old\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a symlink at the path is replaced, not followed; a missing directory is a clear error', async () => {
  const dir = scratch();
  try {
    writeFileSync(join(dir, 'target'), 'untouched\n', { mode: 0o644 });
    symlinkSync(join(dir, 'target'), join(dir, 'key'));
    await writeSecretFile(join(dir, 'key'), 'secret\n');
    assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'untouched\n');
    assert.ok(lstatSync(join(dir, 'key')).isFile());
    await assert.rejects(writeSecretFile(join(dir, 'nope', 'key'), 'x'), (e: unknown) => isConegateError(e) && e.code === 'CG_COMMAND_FAILED' && /ENOENT/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
