/** `conegate pf` as a user runs it, with the recording fake pfctl first on PATH. */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT as ROOT, runConegate, type CliResult } from '../../../../test/conegate.ts';

const FIX = `${ROOT}pf-rules/test/fixtures/`;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cg-pfcli-'));
  // FreeBSD with the pf.conf lines README asks for (pf-rules/test/fixtures/skeleton/freebsd.conf).
  mkdirSync(join(dir, 'fake'), { recursive: true });
  writeFileSync(join(dir, 'fake/main.conf'), 'nat-anchor "conegate" all\nrdr-anchor "conegate/pmpd" all\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<CliResult> {
  const env = { CONEGATE_CONFIG: '', PATH: `${ROOT}pf-rules/test/fakes:${process.env.PATH}`, FAKE_PFCTL_DIR: join(dir, 'fake') };
  return runConegate(args, { env, timeoutMs: 60_000 });
}

test('pf generate --json from a pfSense config.xml; bad input exits 2 and prints no rules', async () => {
  const ok = await run(['pf', 'generate', '--config-xml', `${FIX}pfsense-automatic.xml`, '--appliance-version', '2.9.0-RELEASE', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const doc = JSON.parse(ok.stdout) as { target: string; mode: string; rules: unknown[] };
  assert.equal(doc.target, 'natearly/conegate');
  assert.equal(doc.mode, 'endpoint-independent');
  assert.equal(doc.rules.length, 2);
  const bad = await run(['pf', 'generate', '--config-xml', `${FIX}bad/pfsense-bad-mode.xml`]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /unknown outbound NAT mode/);
  assert.equal((await run(['pf', 'generate', '--config-xml', `${FIX}nope.xml`])).code, 2);
  assert.equal((await run(['pf', 'generate', '--config-xml', 'a', '--pf-conf', 'b'])).code, 2);
  // endpoint-independent asked for on a version without it: the operation cannot be done (exit 1).
  const unsupported = await run(['pf', 'generate', '--pf-conf', `${FIX}freebsd-pf.conf`, '--mode', 'endpoint-independent', '--appliance-version', '14.3-RELEASE']);
  assert.equal(unsupported.code, 1);
  assert.match(unsupported.stderr, /lacks endpoint-independent/);
});

test('pf apply / diff / status / revert through the fake pfctl', async () => {
  const common = ['--pf-conf', `${FIX}freebsd-pf.conf`, '--appliance-version', '15.1-RELEASE', '--state-dir', join(dir, 'state')];
  const applied = await run(['pf', 'apply', ...common, '--confirm-sec', '0', '--json']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(JSON.parse(applied.stdout).outcome, 'confirmed');
  const inForce = readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8');
  assert.match(inForce, /endpoint-independent/);
  const diff = await run(['pf', 'diff', ...common, '--json']);
  assert.equal(JSON.parse(diff.stdout).same, true);
  writeFileSync(join(dir, 'fake/states'), 'all udp 203.0.113.2:53001 (192.168.50.10:41641) -> 198.51.100.7:3478   MULTIPLE:SINGLE\n');
  const status = await run(['pf', 'status', '--state-dir', join(dir, 'state'), '--backend', 'pf', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout) as { mappings: { internal: string; external: string }[]; kernel: string };
  assert.deepEqual(st.mappings.map((m) => [m.internal, m.external]), [['192.168.50.10:41641', '203.0.113.2:53001']]);
  assert.match(st.kernel, /endpoint-independent/);
  // A health command that fails: rolled back, exit 1, previous (empty) anchor in force.
  const rolled = await run(['pf', 'apply', ...common, '--sources', '192.168.50.10/32', '--confirm-sec', '1', '--health-cmd', 'false']);
  assert.equal(rolled.code, 1);
  assert.match(rolled.stderr, /rolled back/);
  assert.equal(readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8'), inForce);
  const reverted = await run(['pf', 'revert', '--state-dir', join(dir, 'state'), '--backend', 'pf', '--json']);
  assert.equal(reverted.code, 0, reverted.stderr);
  assert.doesNotMatch(readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8'), /^nat /m);
  // Nothing waits: confirm refuses with exit 1 rather than printing "confirmed".
  const confirmed = await run(['pf', 'confirm', '--state-dir', join(dir, 'state'), '--backend', 'pf']);
  assert.equal(confirmed.code, 1);
  assert.match(confirmed.stderr, /nothing to confirm/);
});

test('pf apply on an OPNsense whose ruleset lacks our nat-anchor: exit 1, the fix named, nothing loaded', async () => {
  writeFileSync(join(dir, 'fake/main.conf'), 'no nat proto carp all\n');
  const r = await run(['pf', 'apply', '--config-xml', `${FIX}opnsense-automatic.xml`, '--platform', 'opnsense', '--appliance-version', '26.7.2', '--state-dir', join(dir, 'state'), '--confirm-sec', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nat-anchor "conegate".*install the conegate plugin/s);
  assert.equal(existsSync(join(dir, 'fake/anchors/conegate')), false);
});
