// The CLI contract of `conegate ips`: JSON on stdout, exit status an admin's script can rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT as REPO, runConegate, type CliResult } from '../../../../test/conegate.ts';

const FIXTURES = join(REPO, 'test/fixtures/ips');

const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runConegate(args, { env });

// A config file so the tests never depend on this machine's platform default.
const dir = mkdtempSync(join(tmpdir(), 'conegate-ips-cli-'));
const cfg = join(dir, 'conegate.json');
writeFileSync(cfg, JSON.stringify({ ips: { meshPorts: [41641], relayPorts: [443] } }));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('ips check --json on a blocking tree: one JSON document, exit 1', async () => {
  const r = await cli(['ips', 'check', '--config', cfg, '--root', join(FIXTURES, 'pfsense-snort'), '--json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { blocking: boolean; complete: boolean; findings: { sid: number }[] };
  assert.equal(report.blocking, true);
  assert.equal(report.complete, true);
  assert.ok(report.findings.some((f) => f.sid === 2016150));
});

test('ips check on a tree where nothing blocks: exit 0, human text says so', async () => {
  const r = await cli(['ips', 'check', '--config', cfg, '--root', join(FIXTURES, 'opnsense-ids')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ALERT ONLY: suricata on lan: SID 1:1000001/);
  assert.match(r.stdout, /Nothing blocks peer-to-peer traffic/);
});

test('ips check with a different mesh port finds what the default port did not', async () => {
  // 1000003 matches only UDP to 51820: on a tree where it is the only rule that could hit, it now shows.
  const r = await cli(['ips', 'check', '--config', cfg, '--root', join(FIXTURES, 'opnsense-ids'), '--mesh-port', '51820', '--json']);
  const report = JSON.parse(r.stdout) as { findings: { sid: number }[] };
  assert.ok(report.findings.some((f) => f.sid === 1000003));
});

test('usage errors exit 2: missing root, bad port, bad peer', async () => {
  assert.equal((await cli(['ips', 'check', '--config', cfg, '--root', join(FIXTURES, 'nope')])).code, 2);
  assert.equal((await cli(['ips', 'check', '--config', cfg, '--mesh-port', '70000'])).code, 2);
  assert.equal((await cli(['ips', 'probe', '--peer', 'a:b:c:d:zz:1:2'])).code, 2);
  assert.equal((await cli(['ips', 'responder', '--listen', 'nowhere'])).code, 2);
});
