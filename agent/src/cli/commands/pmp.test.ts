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

test('pmp: a LAN of 0.0.0.0/0, an address not on this host, or the WAN itself is refused at start and by config validate (exit 2, field named)', async () => {
  const state = join(dir, 's2.json');
  const any = await run(['pmp', 'serve', '--lan', '0.0.0.0/0', '--wan', '203.0.113.1', '--backend', 'memory', '--state', state]);
  assert.equal(any.code, 2);
  assert.match(any.stderr, /--lan\[0\]: "0\.0\.0\.0\/0" covers every address/);
  const elsewhere = await run(['pmp', 'serve', '--lan', '192.0.2.77/24', '--wan', '203.0.113.1', '--backend', 'memory', '--state', state]);
  assert.equal(elsewhere.code, 2);
  assert.match(elsewhere.stderr, /not an address of any interface on this host/);
  const same = await run(['pmp', 'serve', '--lan', '127.0.0.1', '--wan', '127.0.0.1', '--backend', 'memory', '--state', state]);
  assert.equal(same.code, 2);
  assert.match(same.stderr, /WAN/);
  const cfg = join(dir, 'lan-any.json');
  writeFileSync(cfg, JSON.stringify({ pmp: { lan: ['0.0.0.0/0'], wan: 'lo' } }));
  const v = await run(['config', 'validate', '--config', cfg]);
  assert.equal(v.code, 2);
  assert.match(v.stderr, /pmp\.lan\[0\]: "0\.0\.0\.0\/0" covers every address/);
  assert.equal((await run(['config', 'validate', '--config', cfg, '--no-host-checks'])).code, 0, 'a config for another host is not judged here');
  const ok = join(dir, 'lan-ok.json');
  writeFileSync(ok, JSON.stringify({ pmp: { lan: ['127.0.0.1'], wan: '203.0.113.1' } }));
  const good = await run(['config', 'validate', '--config', ok]);
  assert.equal(good.code, 0, `an address on this host as LAN, a public address as WAN: ${good.stderr}`);
});
