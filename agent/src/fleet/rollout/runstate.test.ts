import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { HostResult } from './contract.ts';
import { packageFromName, packagesFromArgs, packagesFromDir } from './packages.ts';
import { hostsToResume, readRunState, RUN_STATE_FORMAT, writeRunState, type RunState } from './runstate.ts';
import { prepareResume, prepareRollout } from './session.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-runstate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const result = (host: string, outcome: HostResult['outcome']): HostResult => ({ host, outcome, changes: [], durationMs: 1 });
const state = (results: HostResult[], options: Record<string, unknown> = {}): RunState => ({
  format: RUN_STATE_FORMAT, runId: '20261207T120000Z-abcdef', options, hosts: ['a', 'b', 'c', 'd', 'e'],
  results: Object.fromEntries(results.map((r) => [r.host, r])), updatedAtMs: 1,
});

describe('run state', () => {
  it('is written 0600 by rename (no temp left) and read back; a damaged file is refused', async () => {
    const f = join(dir, 'run.json');
    const s = state([result('a', 'changed')]);
    await writeRunState(f, s);
    await writeRunState(f, s);
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('run.json')), ['run.json']);
    assert.deepEqual(await readRunState(f), s);
    writeFileSync(join(dir, 'bad.json'), '{"format":"x"}');
    await assert.rejects(readRunState(join(dir, 'bad.json')), { code: 'CG_STATE_CORRUPT' });
    writeFileSync(join(dir, 'torn.json'), readFileSync(f, 'utf8').slice(0, 40));
    await assert.rejects(readRunState(join(dir, 'torn.json')), { code: 'CG_STATE_CORRUPT' });
    await assert.rejects(readRunState(join(dir, 'missing.json')), { code: 'CG_CONFIG_UNREADABLE' });
  });

  it('resume takes the hosts not attempted, skipped, failed or reverted; not the changed, unchanged or checked', () => {
    const s = state([result('a', 'changed'), result('b', 'failed'), result('c', 'skipped'), result('d', 'unchanged')]);
    assert.deepEqual(hostsToResume(s), ['b', 'c', 'e']);
  });
});

describe('packages', () => {
  it('version and platforms from the names npm run package writes', () => {
    assert.deepEqual(packageFromName('/x/conegate-1.4.0.pkg'), { version: '1.4.0', platforms: ['opnsense', 'pfsense'] });
    assert.deepEqual(packageFromName('conegate-1.4.0-rc.1-unifi-arm64.tar.gz'), { version: '1.4.0-rc.1', platforms: ['unifi'], arch: 'arm64' });
    assert.equal(packageFromName('os-conegate-1.4.0.pkg'), undefined);
    assert.equal(packageFromName('conegate-1.4.0.tar.gz'), undefined);
  });

  it('--package-dir: one per platform, two for one platform refused; --package checks the platform', async () => {
    const d = mkdtempSync(join(dir, 'pkgs-'));
    writeFileSync(join(d, 'conegate-2.0.0.pkg'), 'bsd');
    writeFileSync(join(d, 'conegate-2.0.0-unifi-x64.tar.gz'), 'unifi');
    writeFileSync(join(d, 'os-conegate-2.0.0.pkg'), 'plugin');
    const p = await packagesFromDir(d);
    assert.deepEqual(Object.keys(p).sort(), ['opnsense', 'pfsense', 'unifi']);
    assert.equal(p.unifi!.sha256, createHash('sha256').update('unifi').digest('hex'));
    writeFileSync(join(d, 'conegate-2.0.0-unifi-arm64.tar.gz'), 'unifi2');
    await assert.rejects(packagesFromDir(d), { code: 'CG_USAGE' });
    await assert.rejects(packagesFromArgs([`linux=${join(d, 'conegate-2.0.0.pkg')}`]), { code: 'CG_USAGE' });
    await assert.rejects(packagesFromArgs(['nope']), { code: 'CG_USAGE' });
    assert.equal((await packagesFromArgs([`pfsense=${join(d, 'conegate-2.0.0.pkg')}`])).pfsense!.version, '2.0.0');
  });
});

describe('resume', () => {
  it('continues with the same options and packages, only the hosts not done; a changed package is refused', async () => {
    const inv = join(dir, 'hosts.ini');
    writeFileSync(inv, 'a\nb\nc\nd\ne\n');
    const pkg = join(dir, 'conegate-1.0.0-linux-x64.tar.gz');
    writeFileSync(pkg, 'linux package');
    const first = await prepareRollout({ inventory: inv, package: [`linux=${pkg}`], forks: 3, serial: '1,100%', state: join(dir, 'r.json') });
    assert.deepEqual(first.hosts.map((h) => h.name), ['a', 'b', 'c', 'd', 'e']);
    const f = join(dir, 'resume.json');
    await writeRunState(f, { ...state([result('a', 'changed'), result('b', 'reverted')], first.runStateOptions!), hosts: ['a', 'b', 'c', 'd', 'e'] });
    const again = await prepareResume(f);
    assert.deepEqual(again.hosts.map((h) => h.name), ['b', 'c', 'd', 'e']);
    assert.deepEqual(again.priorResults!.map((r) => r.host), ['a']);
    assert.equal(again.runId, '20261207T120000Z-abcdef');
    assert.equal(again.policy.forks, 3);
    assert.deepEqual(again.packages, first.packages);
    writeFileSync(pkg, 'another build');
    await assert.rejects(prepareResume(f), { code: 'CG_STATE_CORRUPT' });
  });
});
