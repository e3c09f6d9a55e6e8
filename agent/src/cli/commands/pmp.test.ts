/** `conegate pmp` as a user runs it: a real process, exit status, stdout JSON. No root needed. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { snapshot } from '../../pmpd/state.ts';
import { runConegate, type CliResult } from '../../../../test/conegate.ts';

const dir = mkdtempSync(join(tmpdir(), 'pmp-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]): Promise<CliResult> => runConegate(args, { env: { CONEGATE_CONFIG: '' } });

test('pmp list --json shows the state file (memory backend: no firewall read)', async () => {
  const file = join(dir, 'state.json');
  const s = snapshot({
    mappings: [{ id: 'udp-192-168-1-10-5000', via: 'pcp', client: '192.168.1.10', transport: 'udp', internalAddress: '192.168.1.10', internalPort: 5000, externalPort: 5000, lifetimeSec: 600, expiresAtMs: 600_000 }],
    epochSec: 42,
    nowMs: 0,
    wallNowMs: Date.UTC(2026, 0, 1),
    clean: true,
    externalAddress: '203.0.113.1',
    backend: 'memory',
  });
  writeFileSync(file, JSON.stringify(s));
  const r = await run(['pmp', 'list', '--state', file, '--backend', 'memory', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual([out.state.epochSec, out.state.clean, out.state.mappings[0].externalPort, out.firewall], [42, true, 5000, null]);
  const human = await run(['pmp', 'list', '--state', file, '--backend', 'memory']);
  assert.match(human.stdout, /pcp udp 203\.0\.113\.1:5000 -> 192\.168\.1\.10:5000 600s left/);
});

test('pmp: a corrupt state file is exit 1, bad usage and config are exit 2', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"version":1');
  const corrupt = await run(['pmp', 'list', '--state', bad, '--backend', 'memory']);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /not JSON/);
  assert.equal((await run(['pmp', 'serve', '--backend', 'bogus'])).code, 2);
  assert.equal((await run(['pmp', 'serve', '--lan', 'nosuch0', '--wan', '203.0.113.1', '--backend', 'memory', '--state', join(dir, 's.json')])).code, 2);
  assert.equal((await run(['pmp', 'serve', '--lan', '127.0.0.1/32', '--backend', 'memory', '--state', join(dir, 's.json')])).code, 2, 'no WAN');
});
