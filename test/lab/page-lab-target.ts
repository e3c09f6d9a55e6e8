/**
 * A PageTarget (test/web/target.ts) on a running agent in the netns lab, for the page's browser test
 * (issue #19 acceptance: "tested in a real browser against a running agent in the lab"):
 * - two sites behind port-restricted NATs, the coordinator and relay on the lab internet
 *   (startMeshServers); `conegate up` (the bundle) on both routers as mesh nodes; a.router also runs
 *   the NAT-PMP/PCP server, the EIM NAT backend, the IPS check (on a copied appliance tree) and its page
 *   on its own loopback;
 * - UDP between the two routers is dropped first, so b is on the relay; `makeDirect` lifts the drop and
 *   resolves once a's agent itself reports the direct path, so the page test's 5 s bound measures what
 *   the page takes to show it;
 * - chromium runs inside a.router's namespace (a wrapper around /usr/bin/chromium), where the page is;
 * - mappings come from natpmpc on a.h1, the model from `conegate control`.
 * A mesh name cannot hold markup (the coordinator's schema refuses it), so `markupPeerName` is b's real
 * name here; rendering markup as text is checked against the fake agent and the real web server.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PageModel } from '../../agent/src/web/model.ts';
import type { PageTarget, TargetMapping } from '../web/target.ts';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { labWaitFor, pingOnce } from './lab-wait.ts';
import { startMeshServers } from './mesh-servers.ts';
import { requirePeers } from './require-peers.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = 'bin/conegate.js';
const MESH_PORT = 41641;
const IPS_TREE = join(ROOT, 'test/fixtures/ips/opnsense-inline');

interface PeerStatus { id: string; name: string; path: { kind: string } | null }
interface StatusJson { mesh: { self: { addresses: string[] }; peers: PeerStatus[] } }

export async function createTarget(): Promise<PageTarget> {
  requirePeers({ natpmpc: 'natpmpc', nft: 'nftables', ping: 'iputils-ping', openssl: 'openssl' });
  const lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }, { name: 'b', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1', 's2'] });
  const procs: LabProcess[] = [];
  try {
    return await build(lab, procs);
  } catch (err) {
    for (const p of procs.reverse()) await p.stop();
    await lab.destroy();
    throw err;
  }
}

async function build(lab: Lab, procs: LabProcess[]): Promise<PageTarget> {
  const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'page-lab-'));
  const { coordFp, authKey } = await startMeshServers(lab, dir, procs);
  const s1 = lab.addr('s1');
  const bWan = lab.addr('b.router');
  // b is reached only through the relay until makeDirect.
  await lab.nftApply('a.router', `table inet cgpage {\n chain o { type filter hook output priority 0; ip daddr ${bWan} meta l4proto udp drop\n }\n chain i { type filter hook input priority 0; ip saddr ${bWan} meta l4proto udp drop\n }\n}\n`);
  const configs = new Map<string, string>();
  for (const node of ['a.router', 'b.router']) {
    await lab.allowRouterInput(node, 'udp', MESH_PORT);
    const path = join(dir, `${node}.json`);
    const routerA = node === 'a.router';
    writeFileSync(path, JSON.stringify({
      stateDir: join(dir, node),
      wg: { interface: lab.uniqueIfname('w'), listenPort: MESH_PORT },
      portmap: { enabled: false },
      netcheck: { stunServers: [`${s1}:3478`] },
      mesh: { enabled: true, coordinator: `https://${s1}:443`, coordinatorFingerprint: coordFp, hostname: node.replace('.', '-'), stateDir: join(dir, node, 'mesh') },
      ...(routerA
        ? { pmp: { enabled: true, lan: ['lan0'], wan: 'wan0', backend: 'nftables' }, nat: { enabled: true, backend: 'nftables', wan: ['wan0'], scope: { ports: [String(MESH_PORT)] } }, ips: { root: IPS_TREE }, web: { enabled: true, listen: '127.0.0.1:8380' } }
        : { web: { enabled: false } }),
    }));
    configs.set(node, path);
    const p = lab.spawnConegate(node, ['up', '--foreground', '--config', path, '--auth-key', authKey], { description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
    procs.push(p);
    await p.waitForOutput(/agent: up/, 60_000, 'stderr');
  }
  const exec = (args: string[]) => lab.execNode('a.router', CLI, [...args, '--config', configs.get('a.router')!], { timeoutMs: 60_000 });
  const model = async (): Promise<PageModel> => {
    const r = await exec(['control', JSON.stringify({ cmd: 'page' })]);
    if (r.code !== 0) throw new Error(`conegate control page: ${r.stderr}`);
    return JSON.parse(r.stdout) as PageModel;
  };
  const status = async (): Promise<StatusJson> => JSON.parse((await exec(['status', '--json'])).stdout) as StatusJson;
  const peerB = () => labWaitFor('a sees b', async () => (await status()).mesh.peers.find((p) => p.name === 'b-router'));
  const bMeshV4 = async () => {
    const r = await lab.execNode('b.router', CLI, ['status', '--json', '--config', configs.get('b.router')!], { timeoutMs: 60_000 });
    return (JSON.parse(r.stdout) as StatusJson).mesh.self.addresses.find((x) => !x.includes(':'))!.split('/')[0]!;
  };
  const b = await peerB();
  const bAddr = await bMeshV4();
  await labWaitFor('b relayed for a', async () => ((await pingOnce(lab, 'a.router', bAddr)) && (await peerB()).path?.kind === 'tcp-relay' ? true : undefined));
  const finding = await labWaitFor('the IPS finding in the page model', async () => (await model()).ips[0]);
  const token = (await exec(['web', 'token'])).stdout.trim();
  const browser = join(dir, 'chromium-in-a.router');
  // The page listens on a.router's loopback: the browser runs in that namespace.
  writeFileSync(browser, `#!/bin/sh\nexec ip netns exec ${lab.netns('a.router')} /usr/bin/chromium "$@"\n`);
  chmodSync(browser, 0o755);
  const gw = lab.node('a.router').lan!.v4!;
  const h1 = lab.addr('a.h1');
  let epochStart: number | undefined;
  return {
    url: 'http://127.0.0.1:8380/',
    token,
    browserExecutable: browser,
    relayedPeer: { id: b.id, name: b.name },
    async makeDirect() {
      await lab.exec('a.router', ['nft', 'delete', 'table', 'inet', 'cgpage'], { check: true });
      await labWaitFor('a\'s agent reports b direct', async () => ((await pingOnce(lab, 'a.router', bAddr)) && (await peerB()).path?.kind === 'direct' ? true : undefined), 90_000);
    },
    async requestMapping(): Promise<TargetMapping> {
      for (const port of [40000, 40001]) {
        await labWaitFor(`natpmpc mapping ${port}`, async () => {
          const r = await lab.exec('a.h1', ['natpmpc', '-g', gw, '-a', String(port), String(port), 'udp', '600'], { timeoutMs: 10_000 });
          return /Mapped public port/.test(r.stdout + r.stderr) ? true : undefined;
        });
      }
      const item = await labWaitFor('the mapping in the model', async () => (await model()).mappings?.items.find((m) => m.id === `${h1}/udp/40001`));
      return { client: h1, protocol: 'udp', internalPort: item.internalPort, externalPort: item.externalPort };
    },
    async mappings() {
      // The epoch's start, not its age (the age grows between two calls on a running agent). The age is
      // whole seconds read beside the wall clock, so the start computed from it may move by a second:
      // within 2 s of the first one seen it is the same epoch (a reset would start it now).
      const p = await model();
      const start = Math.floor(Date.parse(p.generatedAt) / 1000 - p.mappings!.epochSec);
      if (epochStart === undefined || Math.abs(start - epochStart) > 2) epochStart = start;
      return { epochSec: epochStart, ids: p.mappings!.items.map((i) => i.id) };
    },
    finding,
    markupPeerName: b.name,
    invalidEdit: (c) => ({ ...c, wg: { ...c.wg, listenPort: 70000 } }),
    invalidField: 'wg.listenPort',
    validEdit: (c) => ({ ...c, log: { ...c.log, level: 'debug' } }),
    async close() {
      for (const p of procs.reverse()) await p.stop();
      await lab.destroy();
    },
  };
}
