// The fleet lab's fake routers (fleet-routers.ts) are what the rollout acceptance tests stand on, so
// they are checked first: over real sshd, every root tree is detected as its platform through the one
// shared root path, each host sees only its own tree, and a stand-in package unpacked on a host gives
// a stand-in agent that answers `status --json` only while its service runs, with its version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { probeHost } from '../../agent/src/fleet/facts.ts';
import { connectSsh } from '../../agent/src/fleet/ssh-remote.ts';
import type { RemoteHost } from '../../agent/src/fleet/types.ts';
import { AGENT_BIN, buildStandinPackages } from './fleet-standins.ts';
import { snapshotTree, startFleetLab, treeChanges, type FakeRouter, type FleetLab } from './fleet-routers.ts';
import { labDial } from './sshd.ts';

describe('fleet lab fixture: fake routers over real sshd', () => {
  let fl: FleetLab;
  const open: RemoteHost[] = [];
  const connect = async (r: FakeRouter) => {
    const h = await connectSsh(r.sshd.fleetHost(fl.keyFile, r.name), { knownHostsFile: fl.knownHostsFile, acceptNew: false }, { dial: labDial(fl.lab, 's1'), connectTimeoutMs: 20_000 });
    open.push(h);
    return h;
  };

  before(async () => {
    fl = await startFleetLab({ routers: [{ platform: 'opnsense', shell: 'tcsh' }, { platform: 'pfsense' }, { platform: 'unifi' }, { platform: 'linux', shell: 'tcsh' }, { platform: 'linux' }], perSite: 2 });
  });
  after(async () => {
    await Promise.all(open.map((h) => h.close()));
    await fl?.destroy();
  });

  it('every host is detected as its platform through the shared root path', async () => {
    const got = await Promise.all(fl.routers.map(async (r) => (await probeHost(await connect(r), 20_000, fl.rootAt)).detected.platform));
    assert.deepEqual(got, fl.routers.map((r) => r.platform));
    // Two servers share a namespace on different ports, each with its own key and tree.
    assert.equal(fl.routers[0]!.sshd.address, fl.routers[1]!.sshd.address);
    assert.notEqual(fl.routers[0]!.sshd.port, fl.routers[1]!.sshd.port);
  });

  it('a host sees only its own tree, and the stand-in agent answers only while its service runs', async () => {
    const [a, b] = [fl.routers[3]!, fl.routers[4]!];
    const before = snapshotTree(b.root);
    const pkgs = buildStandinPackages(join(fl.lab.workDir, 'pkgs'), '9.9.9', fl.rootAt, 4096);
    const h = await connect(a);
    await h.upload(pkgs.refs.linux.file, `${fl.rootAt}/tmp-pkg.tar.gz`, 0o600);
    const bin = `${fl.rootAt}${AGENT_BIN.linux}`;
    const install = await h.exec('/bin/sh -s', { stdin: `mkdir -p ${fl.rootAt}/opt/conegate/releases/a && tar -xzf ${fl.rootAt}/tmp-pkg.tar.gz -C ${fl.rootAt}/opt/conegate/releases/a --strip-components=1 && ln -s releases/a ${fl.rootAt}/opt/conegate/current && rm ${fl.rootAt}/tmp-pkg.tar.gz\n`, timeoutMs: 20_000 });
    assert.equal(install.code, 0, install.stderr);
    assert.equal((await h.exec(`${bin} status --json`, { timeoutMs: 10_000 })).code, 1);
    assert.equal((await h.exec(`${bin} service-start`, { timeoutMs: 10_000 })).code, 0);
    const st = await h.exec(`${bin} status --json`, { timeoutMs: 10_000 });
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.stdout.split('\n')[0], '{');
    const doc = JSON.parse(st.stdout) as { version: string; mesh: { peers: unknown[] } };
    assert.equal(doc.version, '9.9.9');
    assert.equal(doc.mesh.peers.length, 3);
    fl.setHealth(a, { peers: 1, up: 1, direct: 1, mappingServer: null, rssMB: 50 });
    fl.setBroken(a, ['9.9.9']);
    assert.equal((await h.exec(`${bin} status --json`, { timeoutMs: 10_000 })).code, 1);
    // The other host on the same namespace saw none of it.
    assert.deepEqual(treeChanges(before, snapshotTree(b.root), { mtime: true, dirs: true }), []);
    assert.equal((await (await connect(b)).exec(`test -e ${bin} && echo yes || echo no`, { timeoutMs: 10_000 })).stdout, 'no\n');
  });

  it('the stand-in pkg(8) adds, packs again, and deletes a stand-in package exactly', async () => {
    const r = fl.routers[0]!; // OPNsense, tcsh login shell
    const before = snapshotTree(r.root);
    const pkgs = buildStandinPackages(join(fl.lab.workDir, 'pkgs'), '8.8.8', fl.rootAt, 4096);
    const h = await connect(r);
    await h.upload(pkgs.refs.opnsense.file, `${fl.rootAt}/in.pkg`, 0o600);
    const pkg = `sh ${fl.rootAt}/lab/pkg`;
    assert.equal((await h.exec(`${pkg} info -e conegate`, { timeoutMs: 10_000 })).code, 1);
    assert.equal((await h.exec(`${pkg} add -f ${fl.rootAt}/in.pkg`, { timeoutMs: 10_000 })).code, 0);
    assert.equal((await h.exec(`${fl.rootAt}${AGENT_BIN.opnsense} --version`, { timeoutMs: 10_000 })).stdout, '8.8.8\n');
    const installed = snapshotTree(r.root);
    const again = await h.exec('/bin/sh -s', { stdin: `set -e\nmkdir ${fl.rootAt}/prev\n${pkg} create -o ${fl.rootAt}/prev conegate\n${pkg} delete -y conegate\n${pkg} add -f ${fl.rootAt}/prev/conegate-8.8.8.pkg\n`, timeoutMs: 10_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(treeChanges(installed, snapshotTree(r.root), { skip: ['prev'] }), []);
    assert.equal((await h.exec(`/bin/sh -c '${pkg} delete -y conegate; rm -rf ${fl.rootAt}/prev ${fl.rootAt}/in.pkg'`, { timeoutMs: 10_000 })).code, 0);
    assert.deepEqual(treeChanges(before, snapshotTree(r.root)), []);
  });
});
