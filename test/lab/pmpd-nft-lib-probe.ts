// Run inside a lab router's namespace by pmpd-nft.test.ts: the nftables backend with its default
// channel (libnftables in this process), one batch of every mapping kind, 40 more changes, read back.
// Prints one JSON line.
import { NftablesBackend } from '../../agent/src/fw/nftables.ts';
import { SAMPLE } from '../../agent/src/fw/compliance.ts';

const b = new NftablesBackend({ owner: 'cglib', wanIf: 'wan0' });
await b.flush();
await b.apply(SAMPLE.map((mapping) => ({ op: 'add' as const, mapping })));
for (let i = 0; i < 20; i++) {
  const m = { ...SAMPLE[0]!, id: `probe-${i}`, externalPort: 30000 + i, internalPort: 30000 + i };
  await b.add(m);
  if (i % 2) await b.remove(m.id);
}
let refused = '';
try {
  await b.add({ ...SAMPLE[1]!, id: 'clash', transport: 'udp', externalPort: 5555 });
} catch (err) {
  refused = (err as { code?: string }).code ?? 'unknown';
}
const listed = await b.list();
await b.close();
console.log(JSON.stringify({ channel: b.channelKind, batches: b.stats.batches, tableLoads: b.stats.tableLoads, refused, ids: listed.map((m) => m.id) }));
