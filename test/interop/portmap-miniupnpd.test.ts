/**
 * Acceptance of the port-mapping client against a real miniupnpd in the netns lab, for PCP, NAT-PMP
 * and UPnP IGD each: a mapping is made, a packet from a lab internet host reaches the LAN host through
 * it, it is renewed, the router "reboots" (daemon restarted, rules and leases lost, epoch reset) and the
 * client re-maps by itself, the new mapping carries traffic, and SIGTERM releases it (rule gone).
 * Renewal is every 2 s via config (portmap.renewAfterSec) to keep the run short.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../lab/lab.ts';
import { PROBE } from '../lab/measure.ts';
import type { LabProcess } from '../lab/proc.ts';
import { Miniupnpd, requirePeers } from './miniupnpd.ts';

let lab: Lab;
let mini: Miniupnpd;
let gateway: string;
let wan: string;

interface Line {
  event: string;
  atMs: number;
  reason?: string;
  endpoint?: { address: string; port: number; via: string };
  mapping?: { port: number };
  via?: string;
}

function lines(p: LabProcess): Line[] {
  return p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

/** Waits (bounded) until the CLI has printed a line matching pred after `from` lines; returns it. */
async function waitLine(p: LabProcess, pred: (l: Line) => boolean, what: string, from = 0, timeoutMs = 15_000): Promise<Line> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const hit = lines(p).slice(from).find(pred);
    if (hit) return hit;
    if (p.exited || performance.now() > deadline) assert.fail(`no ${what} from the client within ${timeoutMs} ms; stdout:\n${p.stdout}\nstderr:\n${p.stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls the probe until miniupnpd answers all three protocols (it listens only after its STUN check). */
async function waitReady(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await lab.execConegate('a.h1', ['portmap', 'probe', '--json', '--gateway', gateway, '--timeout', '500'], { timeoutMs: 10_000 });
    if (r.code === 0) {
      const p = JSON.parse(r.stdout) as { pcp: boolean; natpmp: boolean; upnp: boolean };
      if (p.pcp && p.natpmp && p.upnp) return;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail('miniupnpd never answered PCP, NAT-PMP and UPnP');
}

/** A packet from the internet server s1 to wan:extPort arrives at a.h1's internalPort. */
async function assertDelivered(extPort: number, internalPort: number): Promise<void> {
  const listener = lab.spawnNode('a.h1', PROBE, ['listen', '--port', String(internalPort), '--count', '1', '--timeout-ms', '10000']);
  try {
    await listener.waitForOutput(/"event":"ready"/, 10_000);
    await lab.execNode('s1', PROBE, ['send', '--to', `${wan}:${extPort}`, '--count', '3', '--interval-ms', '50', '--data', 'through-the-mapping'], { check: true });
    await listener.waitForOutput(/"event":"recv".*through-the-mapping/, 10_000);
  } finally {
    await listener.stop();
  }
}

/** Waits (bounded) until miniupnpd holds a dnat rule to a.h1:internalPort; returns "ext->addr:port". */
async function waitRule(internalPort: number, timeoutMs = 15_000): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  const suffix = `->${lab.addr('a.h1')}:${internalPort}`;
  for (;;) {
    const hit = (await mini.dnatRules()).find((r) => r.endsWith(suffix));
    if (hit) return hit;
    if (performance.now() > deadline) assert.fail(`miniupnpd has no rule ${suffix} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  requirePeers();
  lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
  gateway = lab.node('a.router').lan!.v4!;
  wan = lab.addr('a.router');
  mini = new Miniupnpd(lab, 'a.router', 's1');
  await mini.setup();
  await mini.start();
  await waitReady();
});

after(async () => {
  await mini?.teardown();
  await lab?.destroy();
});

const CASES = [
  { via: 'pcp', internalPort: 41001, announcements: true },
  { via: 'natpmp', internalPort: 41002, announcements: true },
  { via: 'upnp', internalPort: 41003, announcements: true },
  // Without the announcement listener the reset must still be found, by the epoch of the next renewal.
  { via: 'natpmp', internalPort: 41004, announcements: false },
] as const;

for (const { via, internalPort, announcements } of CASES) {
  test(`miniupnpd ${via}${announcements ? '' : ' (no announcements)'}: map, deliver, renew, survive a router reboot, release`, async (t) => {
    const config = join(mini.dir, `conegate-${internalPort}.json`);
    writeFileSync(config, JSON.stringify({ portmap: { protocols: [via], lifetimeSec: 120, renewAfterSec: 2, probeTimeoutMs: 1000, announcements } }));
    const cli = lab.spawnConegate('a.h1', ['--log-level', 'debug', 'portmap', 'map', '--config', config, '--port', String(internalPort), '--gateway', gateway, '--json'], { stopTimeoutMs: 8000 });
    try {
      // 1. created, with the rule in miniupnpd's chain and traffic through it
      const created = await waitLine(cli, (l) => l.event === 'endpoint' && l.reason === 'created', 'endpoint');
      assert.equal(created.endpoint!.via, via);
      assert.equal(created.endpoint!.address, wan);
      const ext = created.endpoint!.port;
      assert.ok((await mini.dnatRules()).includes(`${ext}->${lab.addr('a.h1')}:${internalPort}`), 'miniupnpd loaded the dnat rule');
      await assertDelivered(ext, internalPort);

      // 2. renewed (a second grant) with the same endpoint
      const n = lines(cli).length;
      const renewed = await waitLine(cli, (l) => l.event === 'granted', 'renewal', n);
      assert.equal(renewed.mapping!.port, ext);

      // 3. router reboot: rules and leases gone, epoch back to 0; the client must re-map by itself
      const mark = lines(cli).length;
      await mini.reboot();
      if (via !== 'upnp') {
        // NAT-PMP and PCP carry the epoch: the client must see the reset (miniupnpd announces on start) and say so.
        await waitLine(cli, (l) => l.event === 'epochReset', 'epoch reset', mark);
        await waitLine(cli, (l) => l.event === 'endpoint' && (l.reason === 'recreated' || l.reason === 'changed'), 're-created endpoint', mark);
      }
      // The flushed rule must come back in the new daemon without any help from the test.
      const rule = await waitRule(internalPort);
      const newExt = Number(rule.split('->')[0]);
      const last = lines(cli).filter((l) => l.event === 'granted').at(-1)!;
      assert.equal(last.mapping!.port, newExt, 'the client reports the endpoint the gateway holds');
      await assertDelivered(newExt, internalPort);
      const after = lines(cli).slice(mark);
      const ann = after.find((l) => l.event === 'announcement');
      const regrant = after.find((l) => l.event === 'granted' && (!ann || l.atMs >= ann.atMs));
      // miniupnpd multicasts a PCP ANNOUNCE when it starts: the listener (224.0.0.1:5350) must hear it.
      if (announcements) assert.ok(ann, 'the start-up announcement reached the client');
      else assert.equal(ann, undefined);
      const before = lines(cli).slice(0, mark).filter((l) => l.event === 'granted').at(-1)!;
      t.diagnostic(`after the reboot: ${ann ? `announcement (${ann.via}) -> re-granted in ${Math.round(regrant!.atMs - ann.atMs)} ms` : 'no announcement heard; re-granted at renewal'}; last grant before -> first after: ${Math.round(after.find((l) => l.event === 'granted')!.atMs - before.atMs)} ms`);
      if (process.env.PORTMAP_DEBUG) t.diagnostic(cli.stderr);

      // 4. SIGTERM releases it: the rule is gone from nft
      await cli.stop();
      await waitLine(cli, (l) => l.event === 'released', 'release line', 0, 1000);
      assert.deepEqual((await mini.dnatRules()).filter((r) => r.endsWith(`:${internalPort}`)), [], 'rule removed on shutdown');
    } finally {
      await cli.stop();
    }
  });
}
