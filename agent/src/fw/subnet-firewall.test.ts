import { subnetFirewallCompliance } from './subnet-compliance.ts';
import { MemorySubnetFirewall } from './subnet-firewall.ts';

subnetFirewallCompliance('memory', async () => new MemorySubnetFirewall());
