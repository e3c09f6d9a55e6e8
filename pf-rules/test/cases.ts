/** The golden cases: an input file, the appliance version the capability gate sees, and the policy. */
import type { NatPolicy } from '../src/generate.ts';
import type { Platform } from '../src/model.ts';

export interface GoldenCase {
  name: string;
  input: string;
  kind: 'config-xml' | 'pf-conf';
  platform: Platform;
  version: string;
  policy: NatPolicy;
}

const all = (over: Partial<NatPolicy> = {}): NatPolicy => ({ mode: 'auto', wan: [], scope: { sources: [], ports: [] }, ...over });

export const GOLDEN_CASES: GoldenCase[] = [
  { name: 'pfsense-automatic.all', input: 'pfsense-automatic.xml', kind: 'config-xml', platform: 'pfsense', version: '2.9.0-RELEASE', policy: all() },
  { name: 'pfsense-automatic.mesh-port', input: 'pfsense-automatic.xml', kind: 'config-xml', platform: 'pfsense', version: '2.9.0-RELEASE', policy: all({ scope: { sources: ['192.168.1.0/24'], ports: ['41641'] } }) },
  { name: 'pfsense-hybrid-multiwan.all', input: 'pfsense-hybrid-multiwan.xml', kind: 'config-xml', platform: 'pfsense', version: '26.03-RELEASE', policy: all() },
  { name: 'pfsense-hybrid-multiwan.hosts', input: 'pfsense-hybrid-multiwan.xml', kind: 'config-xml', platform: 'pfsense', version: '26.03-RELEASE', policy: all({ scope: { sources: ['192.168.1.50/32', '192.168.1.60/32', '192.168.1.70/32'], ports: [] } }) },
  { name: 'pfsense-hybrid-multiwan.static-port', input: 'pfsense-hybrid-multiwan.xml', kind: 'config-xml', platform: 'pfsense', version: '2.8.1-RELEASE', policy: all({ mode: 'static-port', scope: { sources: ['192.168.1.70/32'], ports: ['41641'] } }) },
  { name: 'pfsense-advanced.all', input: 'pfsense-advanced.xml', kind: 'config-xml', platform: 'pfsense', version: '2.9.0-RELEASE', policy: all() },
  { name: 'opnsense-automatic.all', input: 'opnsense-automatic.xml', kind: 'config-xml', platform: 'opnsense', version: '26.7.2', policy: all() },
  { name: 'opnsense-automatic.dynamic', input: 'opnsense-automatic.xml', kind: 'config-xml', platform: 'opnsense', version: '25.7.6_2', policy: all() },
  { name: 'opnsense-hybrid.two-wans', input: 'opnsense-hybrid.xml', kind: 'config-xml', platform: 'opnsense', version: '26.7.2', policy: all({ wan: ['wan', 'opt2'] }) },
  { name: 'opnsense-advanced.all', input: 'opnsense-advanced.xml', kind: 'config-xml', platform: 'opnsense', version: '26.7.2', policy: all() },
  // The router is a mesh node: its own mesh socket (sent from the WAN's own address) stays untranslated.
  { name: 'pfsense-advanced.router-node', input: 'pfsense-advanced.xml', kind: 'config-xml', platform: 'pfsense', version: '2.9.0-RELEASE', policy: all({ scope: { sources: ['192.168.1.0/24'], ports: ['41641'] }, ownPorts: [41641] }) },
  { name: 'opnsense-automatic.dynamic-router-node', input: 'opnsense-automatic.xml', kind: 'config-xml', platform: 'opnsense', version: '25.7.6_2', policy: all({ ownPorts: [41641] }) },
  { name: 'freebsd.all', input: 'freebsd-pf.conf', kind: 'pf-conf', platform: 'freebsd', version: '15.1-RELEASE', policy: all() },
  { name: 'freebsd-no-hook.hosts', input: 'freebsd-no-hook.pf.conf', kind: 'pf-conf', platform: 'freebsd', version: '15.1-RELEASE-p2', policy: all({ scope: { sources: ['192.168.60.10'], ports: [] } }) },
];
