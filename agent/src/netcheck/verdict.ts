/**
 * The plain-language verdict: one level, one sentence, and the fixes that apply here. The fix for
 * this very box names conegate's own commands for its platform: PF on OPNsense, pfSense and FreeBSD
 * (`conegate pf apply`), nftables on UniFi OS and other Linux routers (`conegate nat apply`).
 *
 * Every `conegate ...` command a fix prints must work exactly as printed, with the config as it is
 * (or after setting the one key the same fix names): no placeholders, no flag the command lacks.
 * test/lab/netcheck-fixes.test.ts runs each one against a temporary config.
 */
import type { PlatformKind } from '../platform/detect.ts';
import type { FamilyReport, NetcheckReport, Verdict } from './types.ts';

/** What netcheck knows about this host beyond the report, to print complete commands. */
export interface VerdictHints {
  /** The interface of the default route (Linux): the nftables backend needs the WAN named. */
  wan?: string;
  /** The mesh's UDP port (wg.listenPort), for a port mapping upstream. */
  meshPort?: number;
}

/** How to make this appliance's own NAT endpoint-independent, by platform; null where conegate has no backend. */
export function platformNatFix(kind: PlatformKind, hints: VerdictHints = {}): string | null {
  switch (kind) {
    case 'opnsense':
    case 'pfsense':
    case 'freebsd':
      // PF reads the WAN interfaces from the appliance's own config.xml / pf.conf.
      return 'enable endpoint-independent NAT on this firewall: conegate pf apply';
    case 'unifi':
    case 'linux':
      // nftables has no notion of "the WAN": without nat.wan or --wan apply is a usage error (exit 2).
      return hints.wan && /^[A-Za-z][A-Za-z0-9_.=+-]{0,14}$/.test(hints.wan)
        ? `enable endpoint-independent NAT on this router: conegate nat apply --backend nftables --wan ${hints.wan}`
        : 'enable endpoint-independent NAT on this router: set nat.wan to its WAN interface(s), then conegate nat apply --backend nftables';
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

export function verdictFor(r: Omit<NetcheckReport, 'verdict'>, hints: VerdictHints = {}): Verdict {
  const applianceFix = APPLIANCES.includes(r.platform.kind) ? `for the hosts behind this appliance, ${platformNatFix(r.platform.kind, hints)}` : null;
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
      fixes.push('inbound packets are filtered until we send first; sending to each peer at once (simultaneous open) opens the way');
    }
    if (fam.hairpinning === false) fixes.push('hairpinning is off: hosts behind this NAT should reach each other by their LAN addresses');
    return { level: 'easy', summary: withV6(summary, r), fixes, applianceFix };
  }

  if (fam.mapping === 'unknown') {
    return {
      level: 'unknown',
      summary: withV6('UDP works, but the NAT type could not be told apart', r),
      fixes: ['add a second STUN server on another address to netcheck.stunServers (or a second --stun), or use one with RFC 5780 support; to run one on a host with two public addresses see conegate stun serve --help'],
      applianceFix,
    };
  }

  const what = MAPPING_WORDS[fam.mapping] ?? 'the mapping varies';
  if (portmapSeen.length > 0) {
    // A command, not a config key: portmap.enabled is on by default and only the agent service reads it.
    fixes.push(`the router upstream${r.portMapping.gateway ? ` (${r.portMapping.gateway})` : ''} offers ${portmapSeen.join(', ')}: keep a port mapping there for the mesh port with conegate portmap map --port ${hints.meshPort ?? 41641} (runs until stopped)`);
  }
  const own = platformNatFix(r.platform.kind, hints);
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
