// The PortMapBackend compliance suite against real nftables, inside a lab router's namespace, plus:
// a foreign table is never touched, the fixed rules are not rewritten per mapping, every mapping kind
// is what nft accepts, and the long-lived nft process is replaced when it dies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { NftablesBackend } from '../../agent/src/fw/nftables.ts';
import { NftChannel } from '../../agent/src/fw/nft-channel.ts';
import { backendCompliance, SAMPLE } from '../../agent/src/fw/compliance.ts';
import type { PortMapping } from '../../agent/src/fw/backend.ts';

describe('nftables backend in a lab namespace', () => {
  let lab: Lab;
  const opened: NftablesBackend[] = [];
  const nft = () => ['ip', 'netns', 'exec', lab.netns('a.router'), 'nft'];
  const make = (owner: string, channel?: NftChannel) => {
    const b = new NftablesBackend({ owner, wanIf: 'wan0', nft: nft(), ...(channel ? { channel } : {}) });
    opened.push(b);
    return b;
  };
  /** Rule handles of our table, in order (they change only if a rule is rewritten). */
  const handles = async (table: string): Promise<number[]> => {
    const r = await lab.exec('a.router', ['nft', '-a', '-j', 'list', 'table', 'ip', table], { check: true });
    return (JSON.parse(r.stdout).nftables as { rule?: { handle: number } }[]).filter((i) => i.rule).map((i) => i.rule!.handle);
  };
  const udp = (i: number): PortMapping => ({ id: `udp-192-168-1-10-${20000 + i}`, transport: 'udp', externalAddress: '203.0.113.1', externalPort: 20000 + i, internalAddress: '192.168.1.10', internalPort: 20000 + i });

  before(async () => {
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
  });
  after(async () => {
    for (const b of opened) await b.close();
    await lab?.destroy();
  });

  backendCompliance('nftables backend', async (owner) => make(owner));

  it('flush leaves the lab\'s own NAT table alone; every mapping kind loads', async () => {
    const before = await lab.nftList('a.router');
    assert.match(before, /table inet lab/);
    const b = make('cgz');
    await b.apply(SAMPLE.map((mapping) => ({ op: 'add' as const, mapping })));
    const text = await lab.nftList('a.router');
    assert.match(text, /203\.0\.113\.1 \. 51820 \. 198\.51\.100\.9 \. 51820 comment "cgpm2 udp-192-168-1-11-51820" : 192\.168\.1\.11 \. 51820/);
    assert.match(text, /203\.0\.113\.1 \. 8443 \. 198\.51\.100\.0\/24 \. 0-65535 comment "cgpm2 tcp-192-168-1-12-8443" : 192\.168\.1\.12 \. 8443/);
    assert.deepEqual(await b.list(), [...SAMPLE].sort((x, y) => (x.id < y.id ? -1 : 1)));
    await b.flush();
    assert.doesNotMatch(await lab.nftList('a.router'), /cg_cgz/);
    assert.match(await lab.nftList('a.router'), /table inet lab/);
  });

  it('the rules are not rewritten per mapping: same rule handles after 100 mappings added and 50 removed', async () => {
    const b = make('cgh');
    await b.flush();
    await b.add(udp(0));
    const first = await handles(b.table);
    assert.equal(first.length, 8);
    for (let i = 1; i <= 100; i++) await b.add(udp(i));
    for (let i = 1; i <= 50; i++) await b.remove(udp(i).id);
    assert.deepEqual(await handles(b.table), first);
    assert.equal((await b.list()).length, 51);
    assert.equal(b.stats.tableLoads, 1);
    await b.flush();
  });

  it('the nft process is started again when it dies; the next change lands', async () => {
    const channel = new NftChannel({ argv: [...nft(), '-i'] });
    const b = make('cgk', channel);
    await b.flush();
    await b.add(udp(1));
    const pid = channel.pid!;
    process.kill(pid, 'SIGKILL');
    await b.add(udp(2));
    await b.add(udp(3));
    assert.notEqual(channel.pid, pid);
    assert.ok(channel.starts >= 2);
    assert.deepEqual((await b.list()).map((m) => m.externalPort), [20001, 20002, 20003]);
    await b.flush();
  });

  it('inside the namespace, batches go through libnftables in process (no nft child), with the same results', async () => {
    const r = await lab.execNode('a.router', 'test/lab/pmpd-nft-lib-probe.ts', [], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(j.channel, 'libnftables');
    assert.equal(j.tableLoads, 1);
    assert.equal(j.refused, 'CG_FIREWALL_REJECTED');
    assert.equal(j.kernelRefused, 'CG_FIREWALL_REJECTED');
    const odd = Array.from({ length: 10 }, (_, i) => `probe-${2 * i}`);
    assert.deepEqual(j.ids, [...SAMPLE.map((m) => m.id), ...odd].sort());
    assert.match(await lab.nftList('a.router'), /table ip cg_cglib/);
    await lab.exec('a.router', ['nft', 'delete', 'table', 'ip', 'cg_cglib'], { check: true });
  });

  it('a mapping table of the earlier layout (one rule per mapping) is carried into the new one', async () => {
    await lab.nftApply(
      'a.router',
      `table ip cg_cgm {
  chain prerouting {
    type nat hook prerouting priority dstnat - 10; policy accept;
    ip daddr 203.0.113.1 udp dport 5555 dnat to 192.168.1.10:5555 comment "cgpm1 udp-192-168-1-10-5555 udp 203.0.113.1 5555 192.168.1.10 5555"
  }
}`,
    );
    const b = make('cgm');
    assert.deepEqual(await b.list(), [SAMPLE[0]]);
    await b.add(SAMPLE[1]!);
    assert.deepEqual(await b.list(), [SAMPLE[1], SAMPLE[0]]);
    assert.equal((await handles(b.table)).length, 8);
    await b.flush();
  });
});
