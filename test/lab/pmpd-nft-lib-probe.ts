// Run inside a lab router's namespace by pmpd-nft.test.ts: the nftables backend with its default
// channel (libnftables in this process), one batch of every mapping kind, 40 more changes, read back.
// Prints one JSON line.
import { NftablesBackend } from '../../agent/src/fw/nftables.ts';
import { SAMPLE } from '../../agent/src/fw/compliance.ts';
import { LibNftables } from '../../agent/src/fw/nft-lib.ts';

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
// A batch the kernel refuses (the second command names a map that does not exist) lands nothing.
const lib = LibNftables.open()!;
let kernelRefused = '';
try {
  await lib.run(`add element ip ${b.table} dnat_udp { 203.0.113.1 . 31999 comment "cgpm2 half" : 192.168.1.10 . 31999 }; add element ip ${b.table} nosuch { 1.2.3.4 }`);
} catch (err) {
  kernelRefused = (err as { code?: string }).code ?? 'unknown';
}
await lib.close();
const listed = await b.list();
await b.close();
console.log(JSON.stringify({ channel: b.channelKind, batches: b.stats.batches, tableLoads: b.stats.tableLoads, refused, kernelRefused, ids: listed.map((m) => m.id) }));
