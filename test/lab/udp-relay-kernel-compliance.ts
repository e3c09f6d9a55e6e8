// The kernel fast path's table compliance suite (agent/src/relay/udp/kernel-table-compliance.ts) against
// real nftables. Not a *.test.ts file: it changes the firewall of the namespace it runs in, so
// test/lab/udp-relay-kernel.test.ts runs it inside a lab namespace (`node --test` there).
import { kernelTableCompliance } from '../../agent/src/relay/udp/kernel-table-compliance.ts';
import { openNftRunner } from '../../agent/src/fw/nft-lib.ts';
import { NftKernelTable } from '../../agent/src/relay/udp/kernel-table.ts';

kernelTableCompliance('nftables kernel table', async () => {
  const runner = openNftRunner();
  if (!runner) throw new Error('libnftables not available: install it (Debian: libnftables1)');
  return new NftKernelTable('conegate_udp_relay', runner);
});
