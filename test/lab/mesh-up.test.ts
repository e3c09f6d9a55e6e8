// Acceptance for the agent service in the netns lab (issue 16): the real coordinator (`conegate coord
// serve`, SQLite, self-signed and pinned) on the lab internet (s1), three `conegate up` nodes: s2 (public address), a.h1 behind a full-cone NAT and c.h1
// behind a symmetric NAT. Each lists the other two in `status --json`; s2 and a.h1 (no traversal
// needed) ping each other's mesh addresses over WireGuard using endpoints from the map (a.h1's comes
// from STUN on its mesh socket) and keep doing so while the coordinator is frozen; a revoked node loses
// every tunnel within 5 s. Then `conegate up` (background) with pmp.enabled and nat.enabled on a router
// serves NAT-PMP and loads the EIM rules in the one process: natpmpc on the LAN gets a mapping.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { labWaitFor, pingOnce } from './lab-wait.ts';

const CLI = 'bin/conegate.js';
const NODES = ['s2', 'a.h1', 'c.h1'] as const;
type NodeName = (typeof NODES)[number];

interface PeerJson {
  name: string;
  addresses: string[];
  nodeKey: string;
  endpoints: { addr: string; type: string }[];
  lastHandshake: string | null;
}
interface StatusJson {
  mesh: { self: { id: string; name: string; addresses: string[] }; peers: PeerJson[]; coordinator: { phase: string } };
  components: Record<string, unknown>;
}

describe('conegate up in the netns lab', () => {
  let lab: Lab;
  let dir: string;
  let coord: LabProcess;
  let adminSocket: string;
  const agents = new Map<string, LabProcess>();
  const configs = new Map<string, string>();
  const tag = String(process.pid % 100000);
  let backgroundPid: number | undefined;
  const processAlive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  const waitFor = labWaitFor;
  const status = async (node: string): Promise<StatusJson> => {
    const r = await lab.execNode(node, CLI, ['status', '--json', '--config', configs.get(node)!], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`status on ${node}: ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  };
  const meshV4 = (s: StatusJson) => s.mesh.self.addresses.find((a) => !a.includes(':'))!.split('/')[0]!;
  const ping = (from: string, to: string) => pingOnce(lab, from, to);

  const startAgent = async (node: string, config: object, authKey?: string): Promise<void> => {
    const path = join(dir, `${node}.json`);
    writeFileSync(path, JSON.stringify(config));
    configs.set(node, path);
    const p = lab.spawnNode(node, CLI, ['up', '--foreground', '--config', path, ...(authKey ? ['--auth-key', authKey] : [])], { description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
    agents.set(node, p);
    await p.waitForOutput(/agent: up/, 60_000, 'stderr');
  };

  before(async () => {
    requirePeers({ ping: 'iputils-ping', natpmpc: 'natpmpc', nft: 'nftables', openssl: 'openssl' });
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'full-cone', hosts: ['h1'] },
        { name: 'c', nat: 'symmetric', hosts: ['h1'] },
      ],
      servers: ['s1', 's2'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'mesh-up-'));
    const stun = lab.spawnNode('s1', CLI, ['stun', 'serve', '--listen', `${lab.addr('s1')}:3478`], { description: 'conegate stun serve' });
    await stun.waitForOutput(/listening on/, 60_000, 'stdout');
    adminSocket = join(dir, 'coord-admin.sock');
    coord = lab.spawnNode('s1', CLI, ['coord', 'serve', '--listen', `${lab.addr('s1')}:8443`, '--db', join(dir, 'coord-db'), '--self-signed', '--admin-socket', adminSocket, '--json'], { description: 'conegate coord serve' });
    const fingerprint = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!;
    const key = await lab.execNode('s1', CLI, ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', adminSocket], { timeoutMs: 30_000 });
    assert.equal(key.code, 0, key.stderr);
    const ready = { fingerprint, authKey: (JSON.parse(key.stdout) as { secret: string }).secret, port: 8443 };
    await Promise.all(
      NODES.map((node, i) =>
        startAgent(
          node,
          {
            log: { level: 'info' },
            wg: { interface: `cgm${tag}${i}`, listenPort: 41641 },
            portmap: { enabled: false },
            netcheck: { stunServers: [`${lab.addr('s1')}:3478`] },
            mesh: { enabled: true, coordinator: `https://${lab.addr('s1')}:${ready.port}`, coordinatorFingerprint: ready.fingerprint, hostname: node.replace('.', '-'), stateDir: join(dir, node) },
          },
          ready.authKey,
        ),
      ),
    );
  });

  after(async () => {
    // The background agent is not a lab-recorded process: end it by its PID if the test did not.
    if (backgroundPid !== undefined && processAlive(backgroundPid)) process.kill(backgroundPid, 'SIGTERM');
    for (const p of agents.values()) await p.stop();
    await coord?.stop();
    await lab?.destroy();
  });

  it('three nodes behind different NATs each list the other two', async () => {
    for (const node of NODES) {
      const st = await waitFor(`${node} lists two peers`, async () => {
        const s = await status(node);
        return s.mesh.peers.length === 2 ? s : undefined;
      });
      assert.deepEqual(st.mesh.peers.map((p) => p.name).sort(), NODES.filter((n) => n !== node).map((n) => n.replace('.', '-')).sort());
      for (const p of st.mesh.peers) assert.match(p.nodeKey, /^[0-9a-f]{64}$/);
    }
  });

  it('the public node and the full-cone node ping each other over WireGuard with endpoints from the map', async () => {
    const s2 = await status('s2');
    const a = await status('a.h1');
    // a.h1 reports what STUN saw from its mesh socket: the full-cone mapping on a's router.
    await waitFor('a.h1 reports its STUN endpoint', async () => {
      const p = (await status('s2')).mesh.peers.find((x) => x.name === 'a-h1');
      return p?.endpoints.some((e) => e.type === 'stun' && e.addr.startsWith(`${lab.addr('a.router')}:`)) ? true : undefined;
    });
    await waitFor('s2 -> a.h1 ping', async () => ((await ping('s2', meshV4(a))) ? true : undefined), 30_000);
    await waitFor('a.h1 -> s2 ping', async () => ((await ping('a.h1', meshV4(s2))) ? true : undefined), 30_000);
    const after = await status('s2');
    assert.ok(after.mesh.peers.find((p) => p.name === 'a-h1')!.lastHandshake, 'handshake shown in status');
  });

  it('tunnels stay up while the coordinator does not answer', async () => {
    const s2 = await status('s2');
    const a = await status('a.h1');
    process.kill(coord.pid, 'SIGSTOP');
    try {
      assert.ok(await ping('a.h1', meshV4(s2)), 'a.h1 -> s2 with the coordinator frozen');
      assert.ok(await ping('s2', meshV4(a)), 's2 -> a.h1 with the coordinator frozen');
      assert.equal((await status('a.h1')).mesh.peers.length, 2, 'the map is kept');
    } finally {
      process.kill(coord.pid, 'SIGCONT');
    }
  });

  it('a revoked node loses every tunnel within 5 s', async () => {
    const s2 = await status('s2');
    const a = await status('a.h1');
    assert.ok(await ping('a.h1', meshV4(s2)));
    // Measured from the agents' own log times (same host clock), not from CLI round trips, which
    // spend seconds starting node on a busy machine.
    const logTimeOf = async (p: LabProcess, re: RegExp) => (JSON.parse((await p.waitForOutput(re, 30_000, 'stderr'))[0]) as { time: number }).time;
    const logTime = (node: string, re: RegExp) => logTimeOf(agents.get(node)!, re);
    const revoke = await lab.execNode('s1', CLI, ['coord', 'nodes', 'revoke', s2.mesh.self.id, '--admin-socket', adminSocket], { timeoutMs: 30_000 });
    assert.equal(revoke.code, 0, revoke.stderr);
    // From the coordinator's own log line for the revocation (same host clock as the agents').
    const t0 = await logTimeOf(coord, /\{[^\n]*"msg":"coord: node revoked"[^\n]*\}/);
    const [tRevoked, tA, tC] = await Promise.all([
      logTime('s2', /\{[^\n]*"msg":"mesh: all peers removed"[^\n]*\}/),
      logTime('a.h1', /\{[^\n]*"msg":"mesh: peer removed"[^\n]*\}/),
      logTime('c.h1', /\{[^\n]*"msg":"mesh: peer removed"[^\n]*\}/),
    ]);
    for (const [who, t] of [['s2', tRevoked], ['a.h1', tA], ['c.h1', tC]] as const) assert.ok(t - t0 <= 5_000, `${who} dropped its tunnels ${t - t0} ms after the revocation`);
    assert.equal(await ping('a.h1', meshV4(s2)), false, 'no tunnel from a.h1 to the revoked node');
    assert.equal(await ping('s2', meshV4(a)), false, 'no tunnel from the revoked node');
    const [sa, ss] = await Promise.all([status('a.h1'), status('s2')]);
    assert.ok(!sa.mesh.peers.some((p) => p.name === 's2'));
    assert.equal(ss.mesh.peers.length, 0);
    assert.equal(ss.mesh.coordinator.phase, 'revoked');
    process.stderr.write(`revocation: s2 ${tRevoked - t0} ms, a.h1 ${tA - t0} ms, c.h1 ${tC - t0} ms\n`);
  });

  it('conegate up (background) with pmp.enabled serves NAT-PMP in the one process: a LAN client gets a mapping; down stops it', async () => {
    const path = join(dir, 'a.router.json');
    writeFileSync(
      path,
      JSON.stringify({
        stateDir: join(dir, 'a.router'),
        portmap: { enabled: false },
        pmp: { enabled: true, lan: ['lan0'], wan: 'wan0', backend: 'nftables' },
        nat: { enabled: true, backend: 'nftables', wan: ['wan0'], scope: { sources: [`${lab.addr('a.h1')}/32`], ports: ['41641'] } },
      }),
    );
    configs.set('a.router', path);
    // Without --foreground `up` detaches and returns once the agent answers on its socket.
    const up = await lab.execNode('a.router', CLI, ['up', '--json', '--config', path], { timeoutMs: 60_000 });
    assert.equal(up.code, 0, up.stderr);
    backgroundPid = (JSON.parse(up.stdout) as { pid: number }).pid;
    const gw = lab.node('a.router').lan!.v4!;
    const out = await waitFor('natpmpc mapping', async () => {
      const r = await lab.exec('a.h1', ['natpmpc', '-g', gw, '-a', '40000', '40000', 'udp', '600'], { timeoutMs: 10_000 });
      return /Mapped public port 40000 protocol UDP/.test(r.stdout + r.stderr) ? r.stdout : undefined;
    }, 30_000);
    assert.match(out, /Mapped public port/);
    const st = await status('a.router');
    assert.deepEqual(st.components.pmp, { mappings: 1, serving: true });
    // nat.enabled in the same process: the EIM rules were applied at start.
    assert.match((st.components.nat as { last: string }).last, /^(confirmed|unchanged)/);
    assert.equal((await lab.exec('a.router', ['nft', 'list', 'table', 'ip', 'conegate'])).code, 0, 'our nftables table is loaded');
    // `conegate pmp list` asks the running agent, not the state file.
    const list = await lab.execNode('a.router', CLI, ['pmp', 'list', '--json', '--config', configs.get('a.router')!], { timeoutMs: 30_000 });
    assert.equal(list.code, 0, list.stderr);
    const live = JSON.parse(list.stdout) as { source: string; mappings: { externalPort: number; internalAddress: string }[] };
    assert.equal(live.source, 'agent');
    assert.deepEqual(live.mappings.map((m) => [m.externalPort, m.internalAddress]), [[40000, lab.addr('a.h1')]]);
    const down = await lab.execNode('a.router', CLI, ['down', '--config', path], { timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.stderr);
    await waitFor('the background agent exits', async () => (processAlive(backgroundPid!) ? undefined : true), 20_000);
    backgroundPid = undefined;
  });
});
