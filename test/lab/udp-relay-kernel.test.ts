// The UDP relay's kernel fast path (issue 17) in the netns lab: a relay on a public lab address (s1,
// net.ipv4.ip_forward=1 there) with mesh.udpRelay.kernelForward "auto", two nodes each behind a symmetric
// NAT. The table's compliance suite against real nftables; 1,000 datagrams each way that the kernel
// forwards (its counters grow, the relay process forwards only the discovery hellos); kill -9 of the relay
// leaves no table behind (`flags owner`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { labWaitFor } from './lab-wait.ts';

const SCRIPT = 'test/lab/udp-relay-node.ts';
const TABLE = 'conegate_udp_relay';

interface RelayStats { forwarded: number; allocations: number; kernel?: { active: boolean; reason: string; pairs: number; packets: number } }

describe('UDP relay kernel fast path between two symmetric NATs', { concurrency: 1 }, () => {
  let lab: Lab;
  let relay: LabProcess | undefined;
  const tables = async (): Promise<string> => (await lab.exec('s1', ['nft', 'list', 'tables'], { check: true })).stdout;
  const lastStats = (): RelayStats => JSON.parse(relay!.stdout.trim().split('\n').filter((l) => l.startsWith('{"allocations"')).at(-1) ?? '{}') as RelayStats;

  before(async () => {
    requirePeers({ nft: 'nftables' });
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'symmetric', hosts: ['h1'] },
        { name: 'b', nat: 'symmetric', hosts: ['h1'] },
      ],
      servers: ['s1'],
    });
    await lab.exec('s1', ['sysctl', '-qw', 'net.ipv4.ip_forward=1'], { check: true });
  });

  after(async () => {
    await relay?.stop();
    await lab?.destroy();
  });

  it('the table contract holds against real nftables (run inside s1)', async () => {
    const r = await lab.exec('s1', [process.execPath, '--import', 'tsx', '--test', '--test-reporter=dot', 'test/lab/udp-relay-kernel-compliance.ts'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(await tables(), new RegExp(TABLE), 'every context closed, no table left');
  });

  it('1,000 datagrams each way are forwarded by the kernel, not by the relay process', async () => {
    relay = lab.spawnNode('s1', SCRIPT, ['relay', '--listen', `${lab.addr('s1')}:41642`, '--members', 'relay,a,b', '--kernel-forward', 'auto'], { description: 'udp relay (kernel path)' });
    await relay.waitForOutput(/"listening":41642/, 60_000);
    const run = (me: string, peer: string) =>
      lab.execNode(`${me}.h1`, SCRIPT, ['client', '--me', me, '--peer', peer, '--relay', `${lab.addr('s1')}:41642`, '--count', '1000', '--timeout-ms', '40000'], { timeoutMs: 60_000 });
    const [ra, rb] = await Promise.all([run('a', 'b'), run('b', 'a')]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const a = JSON.parse(ra.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number };
    const b = JSON.parse(rb.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number };
    assert.deepEqual([a.sent, a.received, b.sent, b.received], [1000, 1000, 1000, 1000], `${ra.stdout}\n${rb.stdout}`);
    // The counters are read every 5 s on the relay's timer.
    const s = await labWaitFor('the relay reads the kernel counters', async () => {
      const st = lastStats();
      return (st.kernel?.packets ?? 0) >= 2000 ? st : undefined;
    }, 15_000);
    assert.equal(s.kernel!.active, true, JSON.stringify(s));
    assert.equal(s.kernel!.pairs, 1);
    // Only the discovery hellos (every 200 ms until the peer answers) went through the process.
    assert.ok(s.forwarded < 100, `userspace forwarded ${s.forwarded}`);
    const listed = (await lab.exec('s1', ['nft', 'list', 'counters', 'table', 'ip', TABLE], { check: true })).stdout;
    const posts = [...listed.matchAll(/counter v[0-9a-f]{6}_post[01] \{\s*packets (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(posts.length, 2, listed);
    assert.ok(posts.every((n) => n >= 1000), listed);
    process.stderr.write(`kernel path: ${s.kernel!.packets} datagrams by the kernel, ${s.forwarded} by the relay process\n`);
  });

  it('a forward filter on the relay that drops the kernel\'s datagrams: the pair moves back to userspace and traffic flows', async () => {
    // As an admin's firewall would: the relay host drops forwarded packets.
    await lab.exec('s1', ['nft', 'add table inet kfblock ; add chain inet kfblock dropall { type filter hook forward priority 0 ; policy drop ; }'], { check: true });
    try {
      // Paced (one datagram per 5 ms, about 15 s): the first ones die in the filter until the relay sees
      // (counters, every 5 s) that nothing reaches postrouting; from then on userspace carries them.
      const run = (me: string, peer: string) =>
        lab.execNode(`${me}.h1`, SCRIPT, ['client', '--me', me, '--peer', peer, '--relay', `${lab.addr('s1')}:41642`, '--count', '3000', '--burst', '1', '--timeout-ms', '45000'], { timeoutMs: 70_000 });
      const [ra, rb] = await Promise.all([run('a', 'b'), run('b', 'a')]);
      const a = JSON.parse(ra.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number };
      const b = JSON.parse(rb.stdout.trim().split('\n').at(-1)!) as { sent: number; received: number };
      const st = await labWaitFor('the relay reports the pair back in userspace', async () => {
        const x = lastStats() as RelayStats & { kernel?: { userspace: { reason: string }[] } };
        return x.kernel?.userspace.some((u) => /forward filter/.test(u.reason)) ? x : undefined;
      }, 15_000);
      assert.equal(st.kernel!.pairs, 0, JSON.stringify(st.kernel));
      assert.ok(a.received > 300 && b.received > 300, `after the fallback userspace carried them: ${ra.stdout} ${rb.stdout}`);
      process.stderr.write(`blackholed kernel path: a received ${a.received}/${a.sent}, b ${b.received}/${b.sent}; the relay process forwarded ${st.forwarded}\n`);
    } finally {
      await lab.exec('s1', ['nft', 'delete', 'table', 'inet', 'kfblock']);
    }
  });

  it('kill -9 of the relay: the kernel deletes its table (flags owner)', async () => {
    assert.match(await tables(), new RegExp(`table ip ${TABLE}`));
    process.kill(relay!.pid!, 'SIGKILL');
    await relay!.done;
    relay = undefined;
    await labWaitFor('the table is gone', async () => (new RegExp(TABLE).test(await tables()) ? undefined : true), 5_000);
  });
});
