/**
 * The plain-language verdict: one level, one sentence, and the fixes that apply here. The fix for
 * this very box names conegate's own commands for its platform: PF on OPNsense, pfSense and FreeBSD
 * (`conegate pf apply`), nftables on UniFi OS and other Linux routers (`conegate nat apply`).
 */
import type { PlatformKind } from '../platform/detect.ts';
import type { FamilyReport, NetcheckReport, Verdict } from './types.ts';

/** How to make this appliance's own NAT endpoint-independent, by platform; null where conegate has no backend. */
export function platformNatFix(kind: PlatformKind): string | null {
  switch (kind) {
    case 'opnsense':
    case 'pfsense':
    case 'freebsd':
      return 'enable endpoint-independent NAT on this firewall: conegate pf apply';
    case 'unifi':
    case 'linux':
      return 'enable endpoint-independent NAT on this router: conegate nat apply --backend nftables';
    default:
      return null;
  }
}

const APPLIANCES: PlatformKind[] = ['opnsense', 'pfsense', 'unifi'];

const MAPPING_WORDS: Record<string, string> = {
  'address-dependent': 'the public port changes with every destination address',
  'address-and-port-dependent': 'the public port changes with every destination address and port',
  dependent: 'the public port changes with the destination',
};

export function verdictFor(r: Omit<NetcheckReport, 'verdict'>): Verdict {
  const applianceFix = APPLIANCES.includes(r.platform.kind) ? `for the hosts behind this appliance, ${platformNatFix(r.platform.kind)}` : null;
  const fam: FamilyReport = r.ipv4.works ? r.ipv4 : r.ipv6;
  const fixes: string[] = [];

  if (!r.udp) {
    const none = r.servers.length === 0;
    return {
      level: 'blocked',
      summary: none
        ? 'no STUN server could be resolved, so nothing was tested'
        : 'UDP blocked: no STUN server answered over UDP, so direct connections cannot work and traffic will need a relay',
      fixes: none ? ['check the --stun names and DNS'] : ['allow outbound UDP (at least the mesh port) on every firewall between this host and the internet'],
      applianceFix,
    };
  }

  const portmapSeen = [r.portMapping.pcp && 'PCP', r.portMapping.natpmp && 'NAT-PMP', r.portMapping.upnp && 'UPnP IGD'].filter(Boolean) as string[];
  if (fam.mapping === 'endpoint-independent') {
    const summary = fam.nat === false ? 'no NAT: this host has a public address; direct connections will work' : 'easy NAT: direct connections will work';
    if (fam.filtering === 'address-and-port-dependent' || fam.filtering === 'address-dependent') {
      fixes.push('inbound packets are filtered until we send first; conegate opens the way by sending to each peer (simultaneous open)');
    }
    if (fam.hairpinning === false) fixes.push('hairpinning is off: hosts behind this NAT should reach each other by their LAN addresses');
    return { level: 'easy', summary: withV6(summary, r), fixes, applianceFix };
  }

  if (fam.mapping === 'unknown') {
    return {
      level: 'unknown',
      summary: withV6('UDP works, but the NAT type could not be told apart', r),
      fixes: ['add a second STUN server on another address, or one with RFC 5780 support (conegate stun serve --listen A1:P1 --other A2:P2)'],
      applianceFix,
    };
  }

  const what = MAPPING_WORDS[fam.mapping] ?? 'the mapping varies';
  if (portmapSeen.length > 0) {
    fixes.push(`the router upstream${r.portMapping.gateway ? ` (${r.portMapping.gateway})` : ''} offers ${portmapSeen.join(', ')}: let conegate keep a port mapping there (portmap.enabled: true)`);
  }
  const own = platformNatFix(r.platform.kind);
  if (own) fixes.push(`if this box does the NAT, ${own}`);
  fixes.push('if the NAT is an upstream router: turn on its endpoint-independent ("full cone", "static port") NAT, or put it in bridge mode');
  if (r.ipv6.works) fixes.push('IPv6 works here: peers with IPv6 can connect directly without NAT');
  return { level: 'hard', summary: `hard NAT: ${what}, so peers cannot reach the endpoint STUN sees; direct connections need the other side to have an easy NAT, else a relay`, fixes, applianceFix };
}

function withV6(summary: string, r: Omit<NetcheckReport, 'verdict'>): string {
  if (r.ipv6.works) return `${summary} (IPv6 works too)`;
  if (r.ipv6.tested) return `${summary} (no IPv6)`;
  return summary;
}
