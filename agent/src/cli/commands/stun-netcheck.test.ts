import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main.ts';
import { serverGroups } from './stun.ts';

/** Runs the CLI in-process with stderr silenced; returns the exit status. */
async function cli(args: string[]): Promise<number> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await main(['node', 'conegate', ...args]);
  } finally {
    process.stderr.write = write;
    process.exitCode = undefined;
  }
}

test('stun serve: --other pairs with the --listen of its family; bad addresses are usage errors', () => {
  assert.deepEqual(serverGroups(['203.0.113.1:3478', '[2001:db8::1]:3478'], ['[2001:db8::2]:3479']), [
    { primary: { address: '203.0.113.1', port: 3478 } },
    { primary: { address: '2001:db8::1', port: 3478 }, other: { address: '2001:db8::2', port: 3479 } },
  ]);
  assert.throws(() => serverGroups(['203.0.113.1:3478'], ['[2001:db8::2]:3479']), { code: 'CG_USAGE' });
  assert.throws(() => serverGroups(['example.com:3478'], []), { code: 'CG_USAGE' });
  assert.throws(() => serverGroups(['2001:db8::1:3478'], []), { code: 'CG_USAGE' });
});

test('exit status 2 for bad usage: stun serve/probe and netcheck', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conegate-cli-'));
  const config = join(dir, 'c.json');
  writeFileSync(config, '{}');
  try {
    assert.equal(await cli(['stun', 'serve', '--listen', 'nonsense']), 2);
    assert.equal(await cli(['stun', 'serve', '--listen', '203.0.113.1:3478', '--other', '203.0.113.1:3479']), 2);
    assert.equal(await cli(['stun', 'probe', 'no-port']), 2);
    assert.equal(await cli(['stun', 'probe', '127.0.0.1:3478', '--timeout-ms', 'x']), 2);
    assert.equal(await cli(['stun', 'probe', '127.0.0.1:3478', '--timeout-ms', '']), 2, 'an empty number is not 0');
    // No wildcard default: without --listen the server does not start; a wildcard is refused too.
    assert.equal(await cli(['stun', 'serve']), 2);
    assert.equal(await cli(['stun', 'serve', '--listen', '0.0.0.0:3478']), 2);
    assert.equal(await cli(['stun', 'serve', '--listen', '127.0.0.1:0', '--rate-per-source', '0']), 2);
    assert.equal(await cli(['netcheck', '--config', config]), 2);
    assert.equal(await cli(['netcheck', '--config', config, '--stun', 'bad']), 2);
    assert.equal(await cli(['netcheck', '--config', config, '--stun', '127.0.0.1:3478', '--timeout-ms', '5']), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
