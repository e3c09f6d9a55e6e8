// The router services of `conegate up` in the running agent (issue 16), in the netns lab: site r's
// router sits behind an ISP router that runs the real miniupnpd (UPnP IGD, NAT-PMP, PCP). `conegate up`
// on r.router with mesh, nat.enabled, portmap.enabled and a netcheck STUN server, all in one process:
// - portmap maps the mesh port on the ISP and the mapped endpoint reaches the mesh: a second node (s2)
//   lists r's endpoint of type "portmap" at the ISP's WAN address;
// - netcheck runs inside the agent and its verdict shows in `status --json`;
// - nat: the EIM table is loaded at start; the WAN address changes (and the firewall is reloaded,
//   dropping our table, as appliances do on a WAN event): the agent sees the change and loads it again.
// The NAT-PMP server side (a LAN client gets a mapping from the running agent) is in mesh-up.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { Miniupnpd, requirePeers as requireMiniupnpd } from '../interop/miniupnpd.ts';
import { labWaitFor } from './lab-wait.ts';

const CLI = 'bin/conegate.js';
const MESH_PORT = 41641;

interface StatusJson {
  mesh: { peers: { name: string; endpoints: { addr: string; type: string }[] }[] };
  components: {
    nat?: { last: string; applies: number; wan: string };
    portmap?: { phase: string; endpoint: string | null };
    netcheck?: { summary: string; ipv4: unknown } | null;
    trim?: { rssMb: number };
  };
}

describe('conegate up runs nat, portmap and netcheck in the one process (lab, upstream miniupnpd)', () => {
  let lab: Lab;
  let dir: string;
  let mini: Miniupnpd;
  let coord: LabProcess;
  const agents: LabProcess[] = [];
  const configs = new Map<string, string>();
  const tag = String(process.pid % 100000);

  const waitFor = labWaitFor;
  const status = async (node: string): Promise<StatusJson> => {
    const r = await lab.execNode(node, CLI, ['status', '--json', '--config', configs.get(node)!], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`status on ${node}: ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  };
  const startAgent = async (node: string, config: object, authKey: string): Promise<void> => {
    const path = join(dir, `${node}.json`);
    writeFileSync(path, JSON.stringify(config));
    configs.set(node, path);
    const p = lab.spawnNode(node, CLI, ['up', '--foreground', '--config', path, '--auth-key', authKey], { description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
    agents.push(p);
    await p.waitForOutput(/agent: up/, 60_000, 'stderr');
  };
  const tableLoaded = async () => (await lab.exec('r.router', ['nft', 'list', 'table', 'ip', 'conegate'])).code === 0;

  before(async () => {
    requirePeers({ nft: 'nftables', openssl: 'openssl' });
    requireMiniupnpd();
    lab = await createLab({
      sites: [{ name: 'r', nat: 'port-restricted', hosts: ['h1'], uplink: 'isp' }],
      isps: [{ name: 'isp', nat: 'port-restricted', inside: 'private' }],
      servers: ['s1', 's2', 's3'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'router-services-'));
    // miniupnpd on the ISP router; its STUN check (and our netcheck) use coturn on s3.
    mini = new Miniupnpd(lab, 'isp', 's3');
    await mini.setup();
    await mini.start();
    coord = lab.spawnNode('s1', 'test/lab/mesh-coordinator.ts', ['--listen', `${lab.addr('s1')}:8443`, '--dir', dir], { description: 'coordinator' });
    const ready = JSON.parse((await coord.waitForOutput(/\{"ready".*\}/, 120_000, 'stdout'))[0]) as { fingerprint: string; authKey: string; port: number };
    const mesh = (node: string) => ({ enabled: true, coordinator: `https://${lab.addr('s1')}:${ready.port}`, coordinatorFingerprint: ready.fingerprint, hostname: node.replace('.', '-'), stateDir: join(dir, node) });
    await startAgent(
      'r.router',
      {
        log: { level: 'info' },
        stateDir: join(dir, 'r.router'),
        wg: { interface: `cgr${tag}`, listenPort: MESH_PORT },
        nat: { enabled: true, backend: 'nftables', wan: ['wan0'], pollSec: 1, scope: { sources: [`${lab.addr('r.h1')}/32`] } },
        // Every protocol miniupnpd offers is fine; a short probe keeps the retries after its STUN check quick.
        portmap: { enabled: true, probeTimeoutMs: 1000 },
        netcheck: { stunServers: [`${lab.addr('s3')}:3478`], timeoutMs: 1500 },
        mesh: mesh('r.router'),
      },
      ready.authKey,
    );
    await startAgent('s2', { log: { level: 'info' }, wg: { interface: `cgs${tag}`, listenPort: MESH_PORT }, portmap: { enabled: false }, mesh: mesh('s2') }, ready.authKey);
  });

  after(async () => {
    for (const p of agents) await p.stop();
    await coord?.stop();
    await mini?.teardown();
    await lab?.destroy();
  });

  it('portmap: the mesh port is mapped on the upstream miniupnpd and that endpoint reaches the other nodes', async () => {
    const ispWan = lab.addr('isp');
    const endpoint = await waitFor('a port mapping on the ISP', async () => {
      const ep = (await status('r.router')).components.portmap?.endpoint;
      return ep && ep.startsWith(`${ispWan}:`) ? ep : undefined;
    }, 90_000);
    const port = Number(endpoint.split(':')[1]);
    assert.ok((await mini.dnatRules()).includes(`${port}->${lab.addr('r.router')}:${MESH_PORT}`), 'miniupnpd forwards the mapped port to the mesh port');
    const seen = await waitFor('s2 lists r.router with the portmap endpoint', async () => {
      const peer = (await status('s2')).mesh.peers.find((p) => p.name === 'r-router');
      return peer?.endpoints.find((e) => e.type === 'portmap');
    });
    assert.equal(seen.addr, endpoint);
  });

  it('netcheck: the periodic netcheck runs in the agent and its verdict is in status --json', async () => {
    const nc = await waitFor('a netcheck verdict', async () => (await status('r.router')).components.netcheck ?? undefined, 60_000);
    assert.equal(typeof nc.summary, 'string');
    assert.ok(nc.summary.length > 0);
    assert.ok(nc.ipv4, 'an IPv4 result (STUN answered)');
  });

  it('nat: the EIM rules are loaded at start and again after a WAN address change', async () => {
    const first = await waitFor('the rules applied at start', async () => {
      const n = (await status('r.router')).components.nat;
      return n && n.applies >= 1 && /^(confirmed|unchanged)/.test(n.last) ? n : undefined;
    });
    assert.ok(await tableLoaded(), 'our nftables table is loaded');
    const wanBefore = lab.node('r.router').wan!.v4!;
    assert.match(first.wan, new RegExp(`wan0=.*${wanBefore.replace(/\./g, '\\.')}`));
    // What an appliance does on a WAN event: the firewall is reloaded (our table gone), the address moves.
    const newAddr = wanBefore.replace(/\.\d+$/, '.77');
    assert.equal((await lab.exec('r.router', ['nft', 'delete', 'table', 'ip', 'conegate'])).code, 0);
    assert.equal(await tableLoaded(), false);
    await lab.exec('r.router', ['ip', 'addr', 'add', `${newAddr}/24`, 'dev', 'wan0'], { check: true });
    const again = await waitFor('the rules applied again', async () => {
      const n = (await status('r.router')).components.nat;
      return n && n.applies > first.applies && n.wan.includes(newAddr) && (await tableLoaded()) ? n : undefined;
    }, 30_000);
    assert.match(again.last, /^confirmed/, 'loaded again, not "unchanged": the kernel had lost the table');
  });

  it('status reports the agent memory (idle trim)', async () => {
    const st = await status('r.router');
    assert.ok((st.components.trim?.rssMb ?? 0) > 0);
  });
});
