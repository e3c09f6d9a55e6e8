import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isConegateError } from '../errors.ts';
import { PF_PMPD_ANCHOR, PfBackend, parsePfNat, renderPfAnchor } from './pf.ts';
import { backendCompliance, SAMPLE } from './compliance.ts';
import { spawnRunner, type CommandRunner } from './run.ts';

const FAKE = new URL('./testdata/fake-pfctl', import.meta.url).pathname;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A pf backend whose pfctl is the recording fake, with its own state directory. */
function fakePf(owner = 'conegate-pmpd', anchor = PF_PMPD_ANCHOR, dir = mkdtempSync(join(tmpdir(), 'fake-pfctl-'))): { b: PfBackend; dir: string } {
  dirs.push(dir);
  // The main ruleset references our rdr anchors (as the OPNsense plugin / pfSense package make it).
  writeFileSync(join(dir, 'main.conf'), 'rdr-anchor "conegate/*" all\n');
  const base = spawnRunner();
  const run: CommandRunner = (argv, input) => {
    process.env.FAKE_PFCTL_DIR = dir;
    return base(argv, input);
  };
  return { b: new PfBackend({ owner, anchor, wanIf: 'igb0', pfctl: FAKE, run }), dir };
}

// Golden anchor text for every kind of mapping: plain UDP, plain TCP, PCP PEER (one remote endpoint),
// PCP FILTER (a remote prefix, any port).
const GOLDEN = `# conegate-pmpd: NAT-PMP/PCP mappings, generated; loaded whole with pfctl -a
rdr pass on igb0 inet proto tcp from any to 203.0.113.1 port 2222 tag cgpm-tcp-192-168-1-10-22 -> 192.168.1.10 port 22
rdr pass on igb0 inet proto tcp from 198.51.100.0/24 to 203.0.113.1 port 8443 tag cgpm-tcp-192-168-1-12-8443 -> 192.168.1.12 port 8443
rdr pass on igb0 inet proto udp from any to 203.0.113.1 port 5555 tag cgpm-udp-192-168-1-10-5555 -> 192.168.1.10 port 5555
rdr pass on igb0 inet proto udp from 198.51.100.9 port 51820 to 203.0.113.1 port 51820 tag cgpm-udp-192-168-1-11-51820 -> 192.168.1.11 port 51820
`;

test('pf golden anchor text for every kind of mapping', () => {
  assert.equal(new PfBackend({ wanIf: 'igb0' }).render(SAMPLE), GOLDEN);
  assert.equal(renderPfAnchor('x', []), '# x: NAT-PMP/PCP mappings, generated; loaded whole with pfctl -a\n');
});

test('pf: pfctl -s nat output (port = N form) parses back to the mappings', () => {
  const printed = GOLDEN.split('\n')
    .filter((l) => l.startsWith('rdr'))
    .map((l) => l.replace(/ port (\d+) tag/, ' port = $1 tag').replace(/ from (\S+) port (\d+)/, ' from $1 port = $2'))
    .join('\n');
  assert.deepEqual(parsePfNat(printed + '\nrdr pass on igb0 inet proto tcp from any to 203.0.113.1 port = 80 -> 10.0.0.1 port 80\n'), [...SAMPLE].sort((a, b) => (a.id < b.id ? -1 : 1)));
});

test('pf: every change is checked with pfctl -n, then loaded whole into the anchor', async () => {
  const { b, dir } = fakePf();
  await b.add(SAMPLE[0]!);
  await b.add(SAMPLE[2]!);
  const log = readFileSync(join(dir, 'calls.log'), 'utf8');
  const loads = log.split('--\n').filter((c) => c.includes(' -f '));
  assert.deepEqual(loads.map((c) => c.split('\n')[0]), [
    'pfctl dry=1 anchor=conegate/pmpd -f -',
    'pfctl dry=0 anchor=conegate/pmpd -f -',
    'pfctl dry=1 anchor=conegate/pmpd -f -',
    'pfctl dry=0 anchor=conegate/pmpd -f -',
  ]);
  assert.equal(readFileSync(join(dir, 'anchor-conegate_pmpd'), 'utf8'), new PfBackend({ wanIf: 'igb0' }).render([SAMPLE[0]!, SAMPLE[2]!]));
});

test('pf: a refused check loads nothing; a failed load keeps the previous rules', async () => {
  const { b, dir } = fakePf();
  await b.add(SAMPLE[0]!);
  writeFileSync(join(dir, 'fail-check'), '');
  await assert.rejects(b.add(SAMPLE[1]!), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED');
  unlinkSync(join(dir, 'fail-check'));
  writeFileSync(join(dir, 'fail-load'), '');
  await assert.rejects(b.add(SAMPLE[1]!), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_ROLLED_BACK');
  assert.deepEqual(await b.list(), [SAMPLE[0]]);
  unlinkSync(join(dir, 'fail-load'));
  await b.add(SAMPLE[1]!);
  assert.equal((await b.list()).length, 2);
});

test('pf: a missing pfctl is CG_PEER_MISSING', async () => {
  const b = new PfBackend({ pfctl: '/nonexistent/pfctl' });
  await assert.rejects(b.list(), (e) => isConegateError(e) && e.code === 'CG_PEER_MISSING');
});

// One fake "kernel" shared by both owners, each in its own anchor.
const shared = mkdtempSync(join(tmpdir(), 'fake-pfctl-'));
backendCompliance('pf backend (fake pfctl)', async (owner) => fakePf(owner, `conegate/${owner}`, shared).b);

test('pf: a batch of changes is one read, one check and one load of the anchor', async () => {
  const { b, dir } = fakePf();
  await b.add(SAMPLE[0]!);
  writeFileSync(join(dir, 'calls.log'), '');
  await b.apply([{ op: 'add', mapping: SAMPLE[1]! }, { op: 'remove', id: SAMPLE[0]!.id }, { op: 'add', mapping: SAMPLE[2]! }, { op: 'add', mapping: SAMPLE[3]! }]);
  const calls = readFileSync(join(dir, 'calls.log'), 'utf8').split('--\n').filter((c) => c.trim()).map((c) => c.split('\n')[0]);
  assert.deepEqual(calls, ['pfctl dry=0 anchor=conegate/pmpd -s nat', 'pfctl dry=1 anchor=conegate/pmpd -f -', 'pfctl dry=0 anchor=conegate/pmpd -f -']);
  assert.deepEqual(await b.list(), [SAMPLE[1], SAMPLE[3], SAMPLE[2]]);
  // Nothing to change: no load at all.
  writeFileSync(join(dir, 'calls.log'), '');
  await b.apply([{ op: 'remove', id: 'unknown' }, { op: 'add', mapping: SAMPLE[1]! }]);
  assert.doesNotMatch(readFileSync(join(dir, 'calls.log'), 'utf8'), / -f /);
});
