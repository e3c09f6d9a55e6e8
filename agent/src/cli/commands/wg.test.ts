import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runConegateSync } from '../../../../test/conegate.ts';

const cli = (args: string[], input?: string) => {
  const r = runConegateSync(args, input === undefined ? {} : { input });
  return { ...r, status: r.code };
};

// RFC 7748 section 6.1: Alice's private and public keys.
const ALICE_PRIV = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
const ALICE_PUB = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');

describe('conegate keygen / pubkey / wg up (CLI)', () => {
  it('pubkey derives the RFC 7748 public key from stdin', () => {
    const r = cli(['pubkey'], `${ALICE_PRIV}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${ALICE_PUB}\n`);
  });

  it('pubkey refuses what is not a key with exit 2', () => {
    const r = cli(['pubkey'], 'not a key\n');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /not a base64 WireGuard private key/);
  });

  it('keygen prints a clamped key, and with --out writes it mode 0600', () => {
    const r = cli(['keygen']);
    assert.equal(r.status, 0, r.stderr);
    const key = Buffer.from(r.stdout.trim(), 'base64');
    assert.equal(key.length, 32);
    assert.equal((key[0] as number) & 7, 0);
    assert.equal((key[31] as number) & 0xc0, 0x40);
    const dir = mkdtempSync(join(tmpdir(), 'cg-keygen-'));
    try {
      const file = join(dir, 'priv.key');
      writeFileSync(file, 'old', { mode: 0o644 });
      // A second link to the old file: writing into it (then chmod) would hand the key to that link.
      linkSync(file, join(dir, 'world-readable-link'));
      const w = cli(['keygen', '--out', file]);
      assert.equal(w.status, 0, w.stderr);
      assert.equal(w.stdout, '');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32);
      assert.equal(readFileSync(join(dir, 'world-readable-link'), 'utf8'), 'old', 'the key never went into the existing file');
      assert.equal(cli(['keygen', '--out', join(dir, 'missing', 'k')]).status, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wg up refuses a bad or missing config with exit 2 before touching the host', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-wgup-'));
    try {
      const file = join(dir, 'wgx.conf');
      writeFileSync(file, '[Interface]\nListenPort = 1\n');
      const r = cli(['wg', 'up', '--config', file]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /PrivateKey is required/);
      const m = cli(['wg', 'up', '--config', join(dir, 'missing.conf')]);
      assert.equal(m.status, 2);
      assert.match(m.stderr, /cannot read/);
      assert.equal(cli(['wg', 'up']).status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
