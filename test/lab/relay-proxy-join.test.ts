// A proxy-only site joins the mesh in the netns lab (issue 17: "a site that reaches the internet only
// through an HTTP proxy (Debian tinyproxy, started by the test) joins through it"). The coordinator
// (s1) and the relay (s2) of startMeshServers; tinyproxy with BasicAuth on s3; p.h1 behind a router that
// forwards nothing but TCP to the proxy, given the proxy by HTTPS_PROXY (NO_PROXY set to hosts that do
// not match); a.h1 behind a router that passes only TCP 443 out. p.h1 registers, follows the map stream
// and logs in to the relay, all through the proxy, and the two ping each other through the relay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { startMeshServers } from './mesh-servers.ts';
import { labWaitFor, agentStatus, pingOnce } from './lab-wait.ts';

const PROXY_PORT = 8888;

interface StatusJson {
  mesh: {
    self: { addresses: string[] };
    peers: { name: string; homeRelay: string | null }[];
    relay: { home?: string; regions: { id: string; connected: boolean; viaProxy?: boolean }[] } | null;
  };
}

describe('a proxy-only site joins the mesh through tinyproxy', { concurrency: 1 }, () => {
  let lab: Lab;
  let dir: string;
  const procs: LabProcess[] = [];
  const configs = new Map<string, string>();
  const tag = String(process.pid % 10000);
  const password = randomBytes(9).toString('base64url');
  let proxy: LabProcess;

  const waitFor = labWaitFor;
  const status = (node: string) => agentStatus<StatusJson>(lab, node, configs.get(node)!);
  const meshV4 = (s: StatusJson) => s.mesh.self.addresses.find((a) => !a.includes(':'))!.split('/')[0]!;
  const ping = (from: string, to: string) => pingOnce(lab, from, to);

  before(async () => {
    requirePeers({ ping: 'iputils-ping', tinyproxy: 'tinyproxy', nft: 'nftables', openssl: 'openssl', timeout: 'coreutils' });
    lab = await createLab({
      sites: [
        { name: 'p', nat: 'port-restricted', hosts: ['h1'] },
        { name: 'a', nat: 'port-restricted', firewall: 'udp-blocked', hosts: ['h1'] },
      ],
      servers: ['s1', 's2', 's3'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'relay-proxy-join-'));
    const { coordFp, authKey } = await startMeshServers(lab, dir, procs);
    const proxyHost = lab.addr('s3');
    // Timeout: tinyproxy cuts a tunnel idle that long; the map stream and the relay keepalives are far more frequent.
    writeFileSync(join(dir, 'tinyproxy.conf'), [`Port ${PROXY_PORT}`, `Listen ${proxyHost}`, 'Timeout 600', 'MaxClients 16', 'ConnectPort 443', `BasicAuth alice ${password}`, 'LogLevel Info', ''].join('\n'), { mode: 0o600 });
    proxy = lab.spawn('s3', ['tinyproxy', '-d', '-c', join(dir, 'tinyproxy.conf')], { description: 'tinyproxy on s3' });
    procs.push(proxy);
    await proxy.waitForOutput(/trying to listen on host\[/, 10_000);
    // p's router forwards only TCP to the proxy (and what belongs to it): no UDP, no direct TCP anywhere.
    await lab.nftApply('p.router', `table inet cg_proxy_only {\n chain forward {\n  type filter hook forward priority -5; policy drop;\n  ct state established,related accept\n  ip daddr ${proxyHost} tcp dport ${PROXY_PORT} accept\n }\n}\n`);
    const s1 = lab.addr('s1');
    const nodes: [string, Record<string, string>][] = [
      ['p.h1', { HTTPS_PROXY: `http://alice:${password}@${proxyHost}:${PROXY_PORT}`, NO_PROXY: 'localhost,127.0.0.1,.internal.example' }],
      ['a.h1', {}],
    ];
    await Promise.all(
      nodes.map(async ([node, env], i) => {
        const path = join(dir, `${node}.json`);
        const config = {
          log: { level: 'info' },
          wg: { interface: `cgj${tag}${i}`, listenPort: 41641 },
          portmap: { enabled: false },
          netcheck: { stunServers: [`${s1}:3478`, `${s1}:3479`] },
          mesh: { enabled: true, coordinator: `https://${s1}:443`, coordinatorFingerprint: coordFp, hostname: node.replace('.', '-'), stateDir: join(dir, node) },
        };
        writeFileSync(path, JSON.stringify(config));
        configs.set(node, path);
        const p = lab.spawnConegate(node, ['up', '--foreground', '--config', path, '--auth-key', authKey], { description: `conegate up on ${node}`, stopTimeoutMs: 10_000, env });
        procs.push(p);
        await p.waitForOutput(/agent: up/, 60_000, 'stderr');
      }),
    );
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    const logDir = process.env.CONEGATE_LAB_LOGDIR;
    if (logDir) for (const [i, p] of procs.entries()) writeFileSync(join(logDir, `proxy-join-${i}-${p.node}.log`), `${p.description}\n${p.stdout}\n${p.stderr}`);
    await lab?.destroy();
  });

  it('p.h1 cannot reach the coordinator or the relay directly', async () => {
    for (const host of ['s1', 's2']) {
      const r = await lab.exec('p.h1', ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${lab.addr(host)}/443`], { timeoutMs: 10_000 });
      assert.notEqual(r.code, 0, `direct TCP to ${host}:443 from p.h1 must fail`);
    }
  });

  it('through the proxy p.h1 registers, gets the map, logs in to the relay, and pings a.h1 (and back)', async () => {
    await waitFor('p.h1 knows a.h1 and its home region', async () => ((await status('p.h1')).mesh.peers.find((x) => x.name === 'a-h1')?.homeRelay === 'r1' ? true : undefined));
    await waitFor('a.h1 knows p.h1 and its home region', async () => ((await status('a.h1')).mesh.peers.find((x) => x.name === 'p-h1')?.homeRelay === 'r1' ? true : undefined));
    const sp = await waitFor('p.h1 on the relay through the proxy', async () => {
      const s = await status('p.h1');
      return s.mesh.relay?.regions.find((r) => r.id === 'r1')?.connected ? s : undefined;
    });
    assert.equal(sp.mesh.relay!.regions.find((r) => r.id === 'r1')!.viaProxy, true);
    const sa = await status('a.h1');
    const t0 = Date.now();
    await waitFor('p.h1 -> a.h1 ping through the relay', async () => ((await ping('p.h1', meshV4(sa))) ? true : undefined));
    const firstPingMs = Date.now() - t0;
    assert.ok(await ping('a.h1', meshV4(sp)), 'a.h1 -> p.h1 ping');
    // tinyproxy saw the coordinator and the relay as CONNECT targets.
    const log = `${proxy.stdout}\n${proxy.stderr}`;
    for (const host of ['s1', 's2']) assert.match(log, new RegExp(`CONNECT ${lab.addr(host).replaceAll('.', '\\.')}:443`), `CONNECT to ${host} in tinyproxy's log`);
    assert.doesNotMatch(`${procs.map((p) => p.stdout + p.stderr).join('\n')}`.replace(log, ''), new RegExp(password), 'the proxy password is never printed by conegate');
    process.stderr.write(`proxy-only join: first ping p.h1 -> a.h1 after ${firstPingMs} ms of trying\n`);
  });
});
