/** fleet status and fleet exec against the twin: fake roots with stand-in `conegate` scripts. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { FleetHost, RemoteConnector } from '../types.ts';
import { checkExecArgs, execText, fleetExec } from './fleet-exec.ts';
import { fleetStatus, mapLimit, statusTable, type FleetRemoteDeps } from './fleet-status.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-fleet-status-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(root: string, path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  chmodSync(join(root, path), mode);
}

const OPNSENSE = { '/usr/local/opnsense/version/core': '{"product_name":"OPNsense","product_version":"25.7.6"}\n' };
const LINUX = { '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n' };

/** A fake router: markers, and `conegate` as a stand-in script at the platform's path. */
function router(name: string, markers: Record<string, string>, bin: string | undefined, standIn?: string, vars: Record<string, unknown> = {}): FleetHost {
  const root = join(dir, name);
  for (const [p, t] of Object.entries(markers)) write(root, p, t);
  if (bin && standIn !== undefined) write(root, bin, standIn, 0o755);
  return { name, address: '192.0.2.1', port: 22, user: 'root', vars: { conegate_root: root, ...vars }, groups: ['all'] };
}

const healthy = `#!/bin/sh
cat <<'J'
{
  "pid": 1,
  "version": "1.4.0",
  "components": { "trim": { "rssMb": 64.4 } },
  "mesh": {
    "coordinator": { "phase": "streaming", "lastError": null },
    "peers": [
      { "name": "hq", "online": true, "path": { "kind": "direct", "endpoint": "198.51.100.2:41641", "region": null, "rttMs": 8.2 } },
      { "name": "shop", "online": true, "path": { "kind": "tcp-relay", "endpoint": null, "region": "fra", "rttMs": 31 } }
    ]
  }
}
J
`;

function deps(connectable: FleetHost[], forks = 2, shell?: string): FleetRemoteDeps & { peak: () => number } {
  let open = 0;
  let peak = 0;
  const connect: RemoteConnector = async (h) => {
    if (!connectable.includes(h)) throw new ConegateError('CG_HOST_KEY_CHANGED', `${h.name}: the host key changed (SHA256:old -> SHA256:new)`);
    open++;
    peak = Math.max(peak, open);
    const twin = new LocalRemoteHost({ root: h.vars.conegate_root as string, ...(shell ? { shell } : {}) });
    return Object.assign(Object.create(twin) as LocalRemoteHost, { close: async () => { open--; await twin.close(); } });
  };
  return { connect, trust: () => ({ knownHostsFile: '/dev/null', acceptNew: false }), forks, timeoutMs: 10_000, peak: () => peak };
}

test('fleet status: per host version, health, peers, direct share and paths; the not running and the unreachable reported per host', async () => {
  const a = router('fw-a', OPNSENSE, '/usr/local/bin/conegate', healthy);
  const b = router('fw-b', LINUX, '/usr/bin/conegate', `#!/bin/sh\necho 'conegate: conegate is not running (no agent on /run/conegate/conegate.sock); start it with conegate up' >&2\nexit 1\n`);
  const c = router('fw-c', LINUX, undefined);
  const d = router('fw-d', LINUX, undefined);
  const dp = deps([a, b, c]);
  const rows = await fleetStatus([a, b, c, d], dp);
  assert.deepEqual(rows.map((r) => [r.host, r.reachable, r.platform, r.health.ok]), [['fw-a', true, 'opnsense', true], ['fw-b', true, 'linux', false], ['fw-c', true, 'linux', false], ['fw-d', false, undefined, false]]);
  assert.ok(dp.peak() <= 2, `forks bound: ${dp.peak()}`);
  assert.equal(rows[3]!.error?.code, 'CG_HOST_KEY_CHANGED');
  const text = statusTable(rows);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^HOST +PLATFORM +VERSION +HEALTH +PEERS UP +DIRECT +PMP\/PCP +RSS +PATHS \/ WHY$/);
  assert.match(lines[1]!, /^fw-a +opnsense +1\.4\.0 +ok +2\/2 +50% +- +64MB +hq direct 198\.51\.100\.2:41641 8ms, shop tcp-relay fra 31ms$/);
  assert.match(lines[2]!, /^fw-b +linux +- +UNHEALTHY .*did not answer `conegate status` in the last sample: conegate: conegate is not running/);
  assert.match(lines[3]!, /^fw-c +linux +- +UNHEALTHY .*conegate is not installed/);
  assert.match(lines[4]!, /^fw-d +- +- +unreachable .*unreachable: fw-d: the host key changed/);
  assert.equal(lines[5], '4 hosts: 1 healthy, 2 unhealthy, 1 unreachable');
});

test('fleet exec: every argument reaches conegate as written (quotes, spaces, $, ;) under sh and csh login shells; exit status and output per host', async () => {
  const echo = `#!/bin/sh\nfor a in "$@"; do printf '[%s]\\n' "$a"; done\necho 'to stderr' >&2\nexit 3\n`;
  const a = router('x-a', OPNSENSE, '/usr/local/bin/conegate', echo);
  const b = router('x-b', LINUX, '/usr/bin/conegate', '#!/bin/sh\necho ok\n');
  const c = router('x-c', LINUX, undefined);
  const d = router('x-d', LINUX, undefined);
  const args = ['control', `{"cmd":"ping","note":"it's $HOME; \`id\` \\\\ !"}`, 'two words', '', '--json'];
  for (const shell of ['/bin/sh', '/usr/bin/tcsh']) {
    const res = await fleetExec([a, b, c, d], args, deps([a, b, c], 3, shell));
    assert.deepEqual(res[0], { host: 'x-a', code: 3, stdout: args.map((x) => `[${x}]\n`).join(''), stderr: 'to stderr\n' }, shell);
    assert.deepEqual([res[1]!.code, res[1]!.stdout], [0, 'ok\n']);
    assert.equal(res[2]!.error?.code, 'CG_NOT_FOUND');
    assert.match(res[2]!.error!.message, /^conegate is not installed \(.*\/usr\/bin\/conegate\)$/);
    assert.equal(res[3]!.error?.code, 'CG_HOST_KEY_CHANGED');
  }
  const text = execText(await fleetExec([a, b], ['status'], deps([a, b])));
  assert.equal(text, 'x-a | FAILED | rc=3 >>\n[status]\nto stderr\nx-b | OK | rc=0 >>\nok\n2 hosts: 1 ok, 1 failed');
});

test('fleet exec: no subcommand, a NUL byte or huge arguments are refused before any host is contacted', () => {
  for (const bad of [[], ['a\0b'], ['x'.repeat(70_000)]]) assert.throws(() => checkExecArgs(bad), (e) => e instanceof ConegateError && e.code === 'CG_USAGE');
});

test('mapLimit keeps order and the bound', async () => {
  let open = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
    peak = Math.max(peak, ++open);
    await new Promise((r) => setImmediate(r));
    open--;
    return n * 10;
  });
  assert.deepEqual([out, peak], [[50, 10, 40, 20, 30], 2]);
  assert.deepEqual(await mapLimit([], 3, async () => 1), []);
});
