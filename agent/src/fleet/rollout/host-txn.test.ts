import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConegateError } from '../../errors.ts';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { FleetHost, RemoteConnector } from '../types.ts';
import type { PackageRef, RolloutOptions } from './contract.ts';
import { runRollout } from './run.ts';
import { LINUX_MARKERS, makeRoot, makeTarball, OPNSENSE_MARKERS, snapshot, twinHost, UNIFI_MARKERS, versionHealthGate } from './twin-fleet.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-hosttxn-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function waitFor(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const twinConnect: RemoteConnector = async (h) => new LocalRemoteHost({ root: h.vars.conegate_root as string });

function opts(host: FleetHost, packages: RolloutOptions['packages'], o: Partial<RolloutOptions> = {}): RolloutOptions {
  return {
    hosts: [host], policy: { serial: [], forks: 1 }, trust: () => ({ acceptNew: false }), connect: twinConnect, packages,
    baseConfig: {}, check: false, diff: false, revertAfterSec: 120, health: versionHealthGate(), onEvent: () => {},
    sleep: async () => {}, commandTimeoutMs: 20_000, ...o,
  };
}

const svcVars = (root: string) => ({ conegate_root: root, conegate_service_start: 'echo start >> svc.log', conegate_service_stop: 'echo stop >> svc.log' });
const withoutLog = (s: ReturnType<typeof snapshot>) => (delete s['svc.log'], s);

/** A Linux twin host on v1 (installed by a first rollout), and the v2 package to roll out next. */
async function linuxOnV1(name: string): Promise<{ root: string; host: FleetHost; v2: PackageRef }> {
  const root = makeRoot(join(work, name), LINUX_MARKERS);
  const host = twinHost(name, 'linux', svcVars(root));
  const v1 = makeTarball(work, 'conegate-1.0.0-linux-x64', '1.0.0', { 'bin/conegate': 'v1\n' });
  const v2 = makeTarball(work, 'conegate-2.0.0-linux-x64', '2.0.0', { 'bin/conegate': 'v2\n' });
  assert.equal((await runRollout(opts(host, { linux: v1 }))).results[0]!.outcome, 'changed');
  return { root, host, v2 };
}

describe('host transaction', () => {
  it('a connection lost after apply: reported, and the host timer restores the previous files by itself', async () => {
    const { root, host, v2 } = await linuxOnV1('lost');
    const before = withoutLog(snapshot(root, { exclude: ['var/lib/conegate-fleet'] }));
    let applied = false;
    const connect: RemoteConnector = async (h) => {
      if (applied) throw new ConegateError('CG_NETWORK', 'no route to host');
      const r = new LocalRemoteHost({ root });
      return {
        exec: async (c, o) => {
          if (applied) throw new ConegateError('CG_CONNECTION_LOST', 'connection lost');
          const res = await r.exec(c, o);
          // The detached apply's poll says it ended well: from here on the host is unreachable.
          if (res.stdout.startsWith('done 0')) applied = true;
          return res;
        },
        upload: (l, p, m) => r.upload(l, p, m), close: () => r.close(),
      };
    };
    const res = await runRollout(opts(host, { linux: v2 }, { connect, revertAfterSec: 1 }));
    assert.equal(res.results[0]!.outcome, 'failed');
    assert.equal(res.results[0]!.error?.code, 'CG_CONNECTION_LOST');
    assert.match(res.results[0]!.error!.message, /reverts within 1 s/);
    // The bound: back on the previous version within the timer + 10 s.
    await waitFor(() => existsSync(join(root, 'var/lib/conegate-fleet/reverted')), 'the timer revert', 11_000);
    assert.equal(readFileSync(join(root, 'var/lib/conegate-fleet/reverted'), 'utf8'), 'ok\n');
    assert.deepEqual(withoutLog(snapshot(root, { exclude: ['var/lib/conegate-fleet'] })), before);
  });

  it('a session lost while the apply runs (one carried by the mesh being upgraded): the apply goes on, the controller reconnects and confirms', async () => {
    const { root, host, v2 } = await linuxOnV1('lost-apply');
    let first = true;
    let connects = 0;
    const connect: RemoteConnector = async () => {
      const r = new LocalRemoteHost({ root });
      const once = first;
      first = false;
      connects++;
      return {
        // The command that carries the apply script reaches the host, but the session dies before
        // its answer comes back (the agent restart cut it).
        exec: async (c, o) => {
          const res = await r.exec(c, o);
          if (once && String(o?.stdin ?? '').includes('CONEGATE_REVERT')) throw new ConegateError('CG_CONNECTION_LOST', 'connection lost');
          return res;
        },
        upload: (l, p, m) => r.upload(l, p, m), close: () => r.close(),
      };
    };
    const res = await runRollout(opts(host, { linux: v2 }, { connect }));
    assert.equal(res.results[0]!.outcome, 'changed', JSON.stringify(res.results[0]!.error));
    assert.ok(connects >= 3, `reconnected after the drop, and a new session for the confirm (${connects} connections)`);
    assert.equal(readFileSync(join(root, 'opt/conegate/current/bin/conegate'), 'utf8'), 'v2\n');
    assert.ok(existsSync(join(root, 'var/lib/conegate-fleet/confirmed')) || !existsSync(join(root, 'var/lib/conegate-fleet/lock')), 'confirmed, lock released');
    assert.equal(existsSync(join(root, 'var/lib/conegate-fleet/reverted')), false);
  });

  it('a session that dies after the apply (the restarted agent carried it) is opened again for the health gate; the change is confirmed', async () => {
    const { root, host, v2 } = await linuxOnV1('lost-health');
    let first = true;
    const connect: RemoteConnector = async () => {
      const r = new LocalRemoteHost({ root });
      const once = first;
      first = false;
      let applied = false;
      return {
        exec: async (c, o) => {
          if (once && applied) throw new ConegateError('CG_CONNECTION_LOST', 'connection lost');
          const res = await r.exec(c, o);
          if (res.stdout.startsWith('done 0')) applied = true;
          return res;
        },
        upload: (l, p, m) => r.upload(l, p, m), close: () => r.close(),
      };
    };
    const res = await runRollout(opts(host, { linux: v2 }, { connect }));
    assert.equal(res.results[0]!.outcome, 'changed', JSON.stringify(res.results[0]));
    assert.equal(res.results[0]!.health?.ok, true);
    assert.equal(readFileSync(join(root, 'opt/conegate/current/bin/conegate'), 'utf8'), 'v2\n');
  });

  it('a session lost before the apply could start: nothing applied, no staged file left', async () => {
    const { root, host, v2 } = await linuxOnV1('lost-launch');
    const before = withoutLog(snapshot(root, { exclude: ['var/lib/conegate-fleet'] }));
    let first = true;
    const connect: RemoteConnector = async () => {
      const r = new LocalRemoteHost({ root });
      const once = first;
      first = false;
      return {
        // The launch never reaches the host.
        exec: async (c, o) => {
          if (once && c === '/bin/sh -s' && String(o?.stdin ?? '').includes('CONEGATE_APPLY')) throw new ConegateError('CG_CONNECTION_LOST', 'connection lost');
          return r.exec(c, o);
        },
        upload: (l, p, m) => r.upload(l, p, m), close: () => r.close(),
      };
    };
    const res = await runRollout(opts(host, { linux: v2 }, { connect }));
    assert.equal(res.results[0]!.error?.code, 'CG_CONNECTION_LOST', JSON.stringify(res.results[0]));
    assert.notEqual(res.results[0]!.outcome, 'changed');
    assert.deepEqual(withoutLog(snapshot(root, { exclude: ['var/lib/conegate-fleet'] })), before);
  });

  it('UniFi: the package\'s own install.sh installs; a failed health gate puts back exactly the previous tree', async () => {
    const root = makeRoot(join(work, 'unifi'), UNIFI_MARKERS);
    const host = twinHost('udm', 'auto', svcVars(root));
    const installSh = readFileSync(new URL('../../../../unifi/install.sh', import.meta.url), 'utf8');
    const units = Object.fromEntries(['conegate.service', 'conegate-repair.service', 'conegate-repair.timer', 'conegate-nat.service', 'conegate-nat.path']
      .map((u) => [`systemd/${u}`, readFileSync(new URL(`../../../../unifi/systemd/${u}`, import.meta.url), 'utf8')]));
    const pkg = (v: string): PackageRef => makeTarball(work, `conegate-${v}-unifi-x64`, v, {
      'install.sh': { text: installSh, mode: 0o755 }, 'on-boot.sh': { text: '#!/bin/sh\n', mode: 0o755 }, ARCH: 'x64\n',
      'lib/conegate.js': `// ${v}\n`, 'node/bin/node': { text: '#!/bin/sh\n', mode: 0o755 }, ...units,
    });
    const first = await runRollout(opts(host, { unifi: pkg('1.0.0') }));
    assert.equal(first.results[0]!.outcome, 'changed', JSON.stringify(first.results[0]!.error));
    assert.equal(readFileSync(join(root, 'data/conegate/lib/conegate.js'), 'utf8'), '// 1.0.0\n');
    assert.ok(existsSync(join(root, 'etc/systemd/system/conegate.service')));
    assert.ok(existsSync(join(root, 'data/on_boot.d/10-conegate.sh')));
    const before = withoutLog(snapshot(root, { exclude: ['data/conegate-fleet'] }));
    const res = await runRollout(opts(host, { unifi: pkg('2.0.0-bad') }));
    assert.equal(res.results[0]!.outcome, 'reverted', JSON.stringify(res.results[0]!.error));
    assert.deepEqual(withoutLog(snapshot(root, { exclude: ['data/conegate-fleet'] })), before);
  });

  it('OPNsense: pkg add -f of the new package, the saved previous one on revert; the config is left to the plugin', async () => {
    const root = makeRoot(join(work, 'opn'), OPNSENSE_MARKERS, ['/var/db', '/usr/local/etc/conegate']);
    writeFileSync(join(root, 'usr/local/etc/conegate/conegate.json'), '{"rendered":"by the plugin"}\n', { mode: 0o600 });
    // A stand-in for pkg(8): a "package" is a tarball of usr/local/...; the database is one file per package.
    writeFileSync(join(root, 'fakepkg'), [
      'R=$1; shift; db="$R/pkgdb"; mkdir -p "$db"',
      'case "$1" in',
      'info) [ -f "$db/conegate" ] ;;',
      'create) t=$(mktemp -d) && mkdir "$t/p" && (cd "$R" && tar -cf - $(cat "$db/conegate")) | tar -xf - -C "$t/p" && tar -czf "$3/conegate-$(cat "$R/usr/local/share/conegate/VERSION").pkg" -C "$t" p && rm -rf "$t" ;;',
      'add) tar -xzf "$3" -C "$R" --strip-components=1 && tar -tzf "$3" | sed -n "s|^[^/]*/||p" | grep -v "/$" | grep . > "$db/conegate" ;;',
      'delete) (cd "$R" && rm -f $(cat "$db/conegate")) && rm -f "$db/conegate" ;;',
      '*) exit 64 ;;',
      'esac', '',
    ].join('\n'));
    const host = twinHost('opn', 'opnsense', { ...svcVars(root), conegate_pkg: `sh ${root}/fakepkg ${root}` });
    const pkg = (v: string) => makeTarball(work, `conegate-${v}-fbsd`, v, { 'usr/local/share/conegate/VERSION': `${v}\n`, 'usr/local/bin/conegate': { text: `#!/bin/sh\n# ${v}\n`, mode: 0o755 } });
    const gate = { ...versionHealthGate(), async sample(r: import('../types.ts').RemoteHost) {
      const out = await r.exec('cat usr/local/share/conegate/VERSION 2>/dev/null; exit 0', { timeoutMs: 10_000 });
      const version = out.stdout.trim() || undefined;
      return { atMs: 0, agentAnswering: !!version, ...(version ? { version } : {}), peersTotal: 0, peersUp: 0, directShare: 0, mappingServer: null, rssMB: null };
    } };
    const first = await runRollout(opts(host, { opnsense: pkg('1.0.0') }, { health: gate }));
    assert.equal(first.results[0]!.outcome, 'changed', JSON.stringify(first.results[0]!.error));
    assert.ok(first.results[0]!.changes.includes('config left to the plugin (config.xml)'));
    assert.equal(readFileSync(join(root, 'usr/local/etc/conegate/conegate.json'), 'utf8'), '{"rendered":"by the plugin"}\n');
    const before = withoutLog(snapshot(root, { exclude: ['var/db/conegate-fleet'] }));
    const res = await runRollout(opts(host, { opnsense: pkg('2.0.0-bad') }, { health: gate }));
    assert.equal(res.results[0]!.outcome, 'reverted', JSON.stringify(res.results[0]!.error));
    assert.equal(readFileSync(join(root, 'usr/local/share/conegate/VERSION'), 'utf8'), '1.0.0\n');
    const now = withoutLog(snapshot(root, { exclude: ['var/db/conegate-fleet'] }));
    assert.deepEqual(now, before);
  });
});
