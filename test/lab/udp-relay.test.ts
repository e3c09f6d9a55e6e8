// UDP relay through a node, in the netns lab (issue 17 part C): a relay on a public lab address (s1),
// two nodes each behind a symmetric NAT (mapping per destination on both sides: no direct path and no
// birthday attempt can connect them). Both allocate the same endpoint on the relay, bind through their
// NATs with the challenge, and 1,000 datagrams of 1,200 bytes flow each way through it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { predictDirect } from './model.ts';
import type { LabProcess } from './proc.ts';
import { resolveNat } from './spec.ts';

const SCRIPT = 'test/lab/udp-relay-node.ts';

describe('UDP relay between two symmetric NATs', () => {
  let lab: Lab;
  let relay: LabProcess;

  before(async () => {
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'symmetric', hosts: ['h1'] },
        { name: 'b', nat: 'symmetric', hosts: ['h1'] },
      ],
      servers: ['s1'],
    });
    relay = lab.spawnNode('s1', SCRIPT, ['relay', '--listen', `${lab.addr('s1')}:41642`, '--members', 'relay,a,b'], { description: 'udp relay' });
    await relay.waitForOutput(/"listening":41642/, 60_000);
  });

  after(async () => {
    await relay?.stop();
    await lab?.destroy();
  });

  it('the premise: both NATs map per destination, so no direct path exists', () => {
    const sym = resolveNat('symmetric', 'test');
    assert.equal(predictDirect([sym], [sym]), false);
  });

  it('1,000 datagrams each way go through the relay, from behind both NATs', async () => {
    const run = (me: string, peer: string) =>
      lab.execNode(`${me}.h1`, SCRIPT, ['client', '--me', me, '--peer', peer, '--relay', `${lab.addr('s1')}:41642`, '--count', '1000', '--timeout-ms', '40000'], { timeoutMs: 60_000 });
    const [ra, rb] = await Promise.all([run('a', 'b'), run('b', 'a')]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const a = JSON.parse(ra.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number; vni: number };
    const b = JSON.parse(rb.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number; vni: number };
    assert.equal(a.vni, b.vni, 'both sides on one endpoint');
    assert.equal(a.sent, 1000);
    assert.equal(b.sent, 1000);
    assert.equal(a.received, 1000, ra.stdout);
    assert.equal(b.received, 1000, rb.stdout);
    // The relay saw both nodes at their routers' public addresses (through the NATs) and forwarded all of it.
    // (Its stats line comes every 200 ms: wait for the one that counts the last datagrams.)
    await relay.waitForOutput(/"forwarded":([2-9]\d{3}|\d{5,})/, 10_000);
    const stats = JSON.parse(relay.stdout.trim().split('\n').at(-1)!) as { forwarded: number; allocations: number };
    assert.ok(stats.forwarded >= 2000, relay.stdout);
    assert.equal(stats.allocations, 1);
  });
});
