// The subnet router's firewall compliance suite against real nftables, in a lab router's namespace
// (the memory twin and PF with the grammar-checking fake pfctl run it in agent/src/fw/subnet-firewall.test.ts).
import { after, before, describe } from 'node:test';
import { createLab, type Lab } from './lab.ts';
import { requirePeers } from './require-peers.ts';
import { subnetFirewallCompliance } from '../../agent/src/fw/subnet-compliance.ts';
import { nftSubnetFirewall } from '../../agent/src/fw/subnet-firewall.ts';

describe('subnet firewall on nftables', () => {
  let lab: Lab;
  before(async () => {
    requirePeers({ nft: 'nftables' });
    lab = await createLab({ sites: [{ name: 'a', nat: 'full-cone', hosts: ['h1'] }], servers: ['s1'] });
  });
  after(async () => {
    await lab?.destroy();
  });
  subnetFirewallCompliance('nftables (lab netns)', async () => nftSubnetFirewall({ nft: ['ip', 'netns', 'exec', lab.node('a.router').netns, 'nft'] }));
});
