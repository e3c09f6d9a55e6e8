/**
 * The health sampler against the twin (LocalRemoteHost over a fake root) with stand-in `conegate`
 * scripts, and once with the real CLI (`conegate status --json`, the bundle) talking to a control socket
 * this test serves, so the script's parsing of the real output (pretty JSON, the pid line) is checked.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../../../package.json' with { type: 'json' };
import { CONEGATE_BIN as CLI } from '../../../../test/conegate.ts';
import { ConegateError } from '../../errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { ControlServer, type ControlHandlers } from '../../service/control-server.ts';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { FleetHost } from '../types.ts';
import { binOverride, createHealthGate, rootOverride, healthScript, sampleFrom, sampleHealth } from './health.ts';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'cg-health-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fake root with `script` as the platform's conegate (opnsense: /usr/local/bin/conegate). */
function fakeRoot(script?: string, at = 'usr/local/bin/conegate'): string {
  const root = join(dir, `r${n++}`);
  mkdirSync(root, { recursive: true });
  if (script !== undefined) {
    const bin = join(root, at);
    mkdirSync(join(bin, '..'), { recursive: true });
    writeFileSync(bin, script);
    chmodSync(bin, 0o755);
  }
  return root;
}
const host = (vars: Record<string, unknown> = {}): FleetHost => ({ name: 'r1', address: '192.0.2.1', port: 22, user: 'root', vars, groups: ['all'] });

function statusDoc(over: Record<string, unknown> = {}): Record<string, unknown> {
  const path = (kind: string, endpoint: string | null, region: string | null) => ({ kind, endpoint, region, rttMs: kind === 'none' ? null : 12.5 });
  return {
    pid: process.pid,
    version: pkg.version,
    uptimeSec: 10,
    components: { pmp: { mappings: 2, serving: true }, trim: { rssMb: 66.1, heapUsedMb: 10, heapTotalMb: 20, trims: 1, gc: true } },
    mesh: {
      coordinator: { phase: 'streaming', lastError: null, reconnects: 0, seq: 4, clockOffsetMs: 0 },
      peers: [
        { name: 'site-b', online: true, path: path('direct', '198.51.100.7:41641', null) },
        { name: 'site-c', online: true, path: path('tcp-relay', null, 'fra') },
        { name: 'site-d', online: true, path: path('udp-relay', '203.0.113.9:3479', null) },
        { name: 'site-e', online: false, path: null },
      ],
    },
    ...over,
  };
}

test('the real `conegate status --json` through the twin: version, peers, direct share, mapping server, RSS', async () => {
  const stateDir = join(dir, 'agent');
  let doc = statusDoc();
  const handlers = { status: () => doc } as unknown as ControlHandlers;
  const server = await ControlServer.listen(join(stateDir, 'conegate.sock'), handlers, silentLogger());
  // The stand-in: the real CLI, pointed at this test's control socket.
  const root = fakeRoot(`#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@" --state-dir '${stateDir}'\n`);
  const twin = new LocalRemoteHost({ root });
  try {
    const prev = process.env.CONEGATE_CONFIG;
    process.env.CONEGATE_CONFIG = join(dir, 'none.json');
    writeFileSync(join(dir, 'none.json'), '{}');
    try {
      const s = await sampleHealth(twin, 'opnsense', { root });
      assert.equal(s.error, undefined);
      assert.deepEqual(
        { a: s.agentAnswering, v: s.version, t: s.peersTotal, u: s.peersUp, d: s.directShare, m: s.mappingServer, r: s.rssMB, c: s.coordinator?.phase, bin: s.bin },
        { a: true, v: pkg.version, t: 4, u: 3, d: 1 / 3, m: true, r: 66.1, c: 'streaming', bin: join(root, 'usr/local/bin/conegate') },
      );
      assert.deepEqual(s.peers?.map((p) => [p.name, p.path, p.via]), [['site-b', 'direct', '198.51.100.7:41641'], ['site-c', 'tcp-relay', 'fra'], ['site-d', 'udp-relay', '203.0.113.9:3479'], ['site-e', 'none', null]]);
      // An agent without the trim component: RSS of the pid status names, from ps.
      doc = statusDoc({ components: {} });
      const ps = await sampleHealth(twin, 'opnsense', { root });
      assert.equal(ps.mappingServer, null, 'pmp not enabled');
      assert.ok(ps.rssMB !== null && ps.rssMB > 10, `ps RSS of this process: ${ps.rssMB}`);
      await server.close();
      const down = await sampleHealth(twin, 'opnsense', { root });
      assert.equal(down.agentAnswering, false);
      assert.match(down.error ?? '', /^conegate: conegate is not running \(no agent on .*conegate\.sock\)/);
    } finally {
      if (prev === undefined) delete process.env.CONEGATE_CONFIG;
      else process.env.CONEGATE_CONFIG = prev;
    }
  } finally {
    await server.close();
    await twin.close();
  }
});

test('stand-ins: not installed, not running, not JSON, hanging (bounded), conegate_bin used as written', async () => {
  const none = await sampleHealth(new LocalRemoteHost({ root: fakeRoot() }), 'unifi', { root: join(dir, 'nowhere') });
  // `conegate` on this machine's PATH would be found as a fallback; the test machine has none.
  assert.equal(none.agentAnswering, false);
  assert.match(none.error ?? '', /conegate is not installed \(.*\/data\/conegate\/bin\/conegate is missing/);

  const notRunning = fakeRoot(`#!/bin/sh\necho 'conegate: no agent answers on /var/run/conegate/conegate.sock (CG_NOT_RUNNING)' >&2\nexit 1\n`);
  const nr = await sampleHealth(new LocalRemoteHost({ root: notRunning }), 'opnsense', { root: notRunning });
  assert.deepEqual([nr.agentAnswering, nr.error], [false, 'conegate: no agent answers on /var/run/conegate/conegate.sock (CG_NOT_RUNNING)']);

  const junk = fakeRoot(`#!/bin/sh\necho 'Segmentation fault'\n`);
  const j = await sampleHealth(new LocalRemoteHost({ root: junk }), 'opnsense', { root: junk });
  assert.deepEqual([j.agentAnswering, j.error], [false, 'conegate status answered with something that is not its JSON: Segmentation fault']);

  const hang = fakeRoot(`#!/bin/sh\nsleep 30\n`);
  const h = await sampleHealth(new LocalRemoteHost({ root: hang }), 'opnsense', { root: hang, timeoutMs: 1000 });
  assert.equal(h.agentAnswering, false);
  assert.match(h.error ?? '', /^no sample: command did not finish within 1000 ms/);

  const standIn = fakeRoot(`#!/bin/sh\n[ "$1 $2" = "status --json" ] || exit 9\necho '{'\necho '  "pid": 1,'\necho '  "version": "9.9.9"'\necho '}'\n`, 'opt/lab/conegate-standin');
  const gate = createHealthGate({ root: standIn });
  const o = await gate.sample(new LocalRemoteHost({ root: standIn }), 'linux', host({ conegate_bin: join(standIn, 'opt/lab/conegate-standin') }));
  assert.deepEqual([o.agentAnswering, o.version, o.peersTotal, o.mappingServer], [true, '9.9.9', 0, null]);
  const missing = await gate.sample(new LocalRemoteHost({ root: standIn }), 'linux', host({ conegate_bin: '/opt/lab/nothing-here' }));
  assert.match(missing.error ?? '', /conegate is not installed \(\/opt\/lab\/nothing-here/);
});

test('a csh login shell (OPNsense root) runs the sample: the script travels on stdin to /bin/sh -s', async () => {
  const root = fakeRoot(`#!/bin/sh\nprintf '{\\n  "pid": 1,\\n  "version": "1.0.0",\\n  "components": {},\\n  "mesh": null\\n}\\n'\n`);
  const s = await sampleHealth(new LocalRemoteHost({ root, shell: '/usr/bin/tcsh' }), 'pfsense', { root });
  assert.deepEqual([s.agentAnswering, s.version, s.mesh], [true, '1.0.0', false]);
});

test('conegate_bin must be an absolute plain path: anything a shell would read is refused', () => {
  assert.equal(binOverride(host()), undefined);
  assert.deepEqual([rootOverride(host()), rootOverride(host({ conegate_root: '' })), rootOverride(host({ conegate_root: '/srv/r1' }))], [undefined, undefined, '/srv/r1']);
  assert.throws(() => rootOverride(host({ conegate_root: 'rel/x' })), (e) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID');
  assert.equal(binOverride(host({ conegate_bin: '/opt/x/conegate' })), '/opt/x/conegate');
  for (const bad of ['conegate', '/opt/$(reboot)', '/a b', 7, "/x';reboot;'"]) {
    assert.throws(() => binOverride(host({ conegate_bin: bad })), (e) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID', String(bad));
  }
});

test('the gate takes the host\'s conegate_root (as the executor does); a lost session is thrown, not a sample', async () => {
  const root = fakeRoot(`#!/bin/sh\necho '{"pid": 1, "version": "2.0.0", "components": {}, "mesh": null}'\n`, 'data/conegate/bin/conegate');
  const gate = createHealthGate({ root: '/nowhere' });
  const twin = new LocalRemoteHost({ root });
  const s = await gate.sample(twin, 'unifi', host({ conegate_root: root }));
  assert.deepEqual([s.agentAnswering, s.version], [true, '2.0.0'], 'a one-line JSON document is read too');
  await twin.close();
  await assert.rejects(gate.sample(twin, 'unifi', host({ conegate_root: root })), (e) => e instanceof ConegateError && e.code === 'CG_CONNECTION_LOST');
});

test('sampleFrom: output cut short, a status that exits 124 (timeout(1)), the pid line of a compact document', () => {
  assert.match(sampleFrom('', 1).error ?? '', /cut short: \(nothing\)/);
  assert.match(sampleFrom('=== bin /x\n=== rc 124\n', 1).error ?? '', /did not answer within 15 s/);
  const s = sampleFrom('=== bin /x\n=== rc 0\nwarning: something {odd}\n{\n  "pid": 5,\n  "mesh": null\n}\n=== rss 51200\n', 7);
  assert.deepEqual([s.atMs, s.agentAnswering, s.rssMB, s.bin], [7, true, 50, '/x']);
  // The script is one exec of /bin/sh -s: no line of it may need a login shell's parsing.
  assert.match(healthScript('opnsense', { root: "/tmp/it's" }), /for c in '\/tmp\/it'\\''s\/usr\/local\/bin\/conegate' '\/tmp\/it'\\''s\/data\/conegate\/bin\/conegate' /);
});

test('the sampling interval fits the settle time: two samples at least inside a short --settle, 5 s at most', () => {
  assert.equal(createHealthGate({ settleMs: 1000 }).intervalMs, 500);
  assert.equal(createHealthGate({ settleMs: 30_000 }).intervalMs, 5000);
  assert.equal(createHealthGate({}).intervalMs, 5000);
  assert.equal(createHealthGate({ settleMs: 1000, intervalMs: 200 }).intervalMs, 200);
});
