// The PortMapBackend compliance suite against real nftables, inside a lab router's namespace,
// plus checks that a foreign table is never touched and the rendered text is what nft accepts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { NftablesBackend } from '../../agent/src/fw/nftables.ts';
import { backendCompliance, SAMPLE } from '../../agent/src/fw/compliance.ts';

describe('nftables backend in a lab namespace', () => {
  let lab: Lab;
  const make = (owner: string) => new NftablesBackend({ owner, wanIf: 'wan0', nft: ['ip', 'netns', 'exec', lab.netns('a.router'), 'nft'] });

  before(async () => {
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
  });
  after(() => lab?.destroy());

  backendCompliance('nftables backend', async (owner) => make(owner));

  it('flush leaves the lab\'s own NAT table alone; the loaded table carries every mapping kind', async () => {
    const before = await lab.nftList('a.router');
    assert.match(before, /table inet lab/);
    const b = make('cgz');
    for (const m of SAMPLE) await b.add(m);
    const text = await lab.nftList('a.router');
    // nft prints the matches in its own order.
    assert.match(text, /iifname "wan0" ip daddr 203\.0\.113\.1 ip saddr 198\.51\.100\.9 udp sport 51820 udp dport 51820 dnat to 192\.168\.1\.11:51820/);
    assert.match(text, /ip saddr 198\.51\.100\.0\/24 dnat to 192\.168\.1\.12:8443/);
    await b.flush();
    assert.doesNotMatch(await lab.nftList('a.router'), /cg_cgz/);
    assert.match(await lab.nftList('a.router'), /table inet lab/);
  });
});
