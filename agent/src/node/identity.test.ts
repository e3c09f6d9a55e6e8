import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { isConegateError } from '../errors.ts';
import { keyToHex } from '../wg/keys.ts';
import { loadIdentity, publicIdentity } from './identity.ts';
import { writeSecretFile } from '../secrets/file.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cg-identity-'));
}

test('creates three distinct keys 0600 and loads the same ones back', async () => {
  const dir = await tempDir();
  try {
    const a = await loadIdentity(dir);
    for (const f of ['machine.key', 'node.key', 'disco.key']) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    assert.deepEqual((await readdir(dir)).sort(), ['disco.key', 'machine.key', 'node.key'], 'no temporary file left');
    const b = await loadIdentity(dir);
    assert.deepEqual(publicIdentity(a), publicIdentity(b));
    const p = publicIdentity(a);
    assert.equal(new Set([p.machineKey, p.nodeKey, p.discoKey]).size, 3);
    const sig = ed25519.sign(new Uint8Array([1, 2, 3]), a.machine.privateKey);
    assert.ok(ed25519.verify(sig, new Uint8Array([1, 2, 3]), a.machine.publicKey), 'machine key is Ed25519');
    assert.equal(a.node.privateKey[0]! & 7, 0, 'node key is a clamped X25519 key');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('secret files are 0600 from the first byte even under a permissive umask', async () => {
  const dir = await tempDir();
  const old = process.umask(0);
  try {
    await writeSecretFile(join(dir, 's'), 'x');
    assert.equal((await stat(join(dir, 's'))).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a corrupt key file is a clear error that does not echo its content; a world-readable one is refused', async () => {
  const dir = await tempDir();
  try {
    await writeFile(join(dir, 'machine.key'), 'SECRET-not-hex', { mode: 0o600 });
    await assert.rejects(loadIdentity(dir), (e) => isConegateError(e) && e.code === 'CG_STATE_CORRUPT' && !e.message.includes('SECRET'));
    await writeFile(join(dir, 'machine.key'), keyToHex(new Uint8Array(32).fill(7)));
    await chmod(join(dir, 'machine.key'), 0o644);
    await assert.rejects(loadIdentity(dir), (e) => isConegateError(e) && e.code === 'CG_NOT_PERMITTED');
    assert.equal((await readFile(join(dir, 'machine.key'), 'utf8')).length, 64, 'left untouched');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('wg.privateKeyFile: the WireGuard key comes from the operator\'s base64 file (as `conegate keygen` writes it), created 0600 if missing', async () => {
  const dir = await tempDir();
  try {
    const keyFile = join(dir, 'wg', 'private.key');
    const a = await loadIdentity(join(dir, 'state'), undefined, { nodeKeyFile: keyFile });
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.match((await readFile(keyFile, 'utf8')).trim(), /^[A-Za-z0-9+/]{43}=$/, 'base64 like wg genkey');
    assert.deepEqual((await readdir(join(dir, 'state'))).sort(), ['disco.key', 'machine.key'], 'no node key in the state dir');
    const b = await loadIdentity(join(dir, 'state'), undefined, { nodeKeyFile: keyFile });
    assert.equal(publicIdentity(b).nodeKey, publicIdentity(a).nodeKey);
    assert.equal(Buffer.from(b.node.privateKey).toString('base64'), (await readFile(keyFile, 'utf8')).trim());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
