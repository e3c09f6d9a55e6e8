/**
 * The router as the rule generator sees it: WAN interfaces, LAN networks and the appliance's own
 * outbound NAT rules in the order PF evaluates them. Readers build it from OPNsense/pfSense
 * `config.xml` or a plain `pf.conf`; the generator never looks at the source format again.
 */

export type Platform = 'opnsense' | 'pfsense' | 'freebsd';
export type OutboundMode = 'automatic' | 'hybrid' | 'advanced' | 'disabled';

/** A host expression as PF writes it. */
export type HostSpec =
  | { kind: 'any' }
  /** One or more literal networks/addresses (CIDR text; a bare address is a host). */
  | { kind: 'cidrs'; cidrs: string[] }
  /** Something only PF can resolve: a table `<name>`, `em1:network`, an unresolvable alias. */
  | { kind: 'symbol'; text: string };

/** An inclusive port range; a single port has from === to. */
export interface PortRange {
  from: number;
  to: number;
}

export interface AddrMatch {
  host: HostSpec;
  not: boolean;
  /** undefined = any port. */
  ports?: PortRange[];
}

/** Where a rule translates to, as the appliance wrote it. */
export type Target =
  /** The interface's address. `dynamic` renders `(if:0)` (follows address changes), `literal` the address itself. */
  | { kind: 'interface'; ifname: string; style: 'dynamic' | 'literal'; address?: string }
  /** A literal address or subnet (VIP, other subnet). */
  | { kind: 'address'; address: string }
  /** A table or alias PF resolves (`<name>`). */
  | { kind: 'symbol'; text: string };

export interface OutboundRule {
  /** Where it comes from, for comments: "manual rule 2 \"VoIP\"", "automatic: catch-all on wan". */
  origin: string;
  ifname: string;
  family: 'inet' | 'inet6' | 'any';
  /** 'any' or a list of protocol names ('udp', 'tcp', ...). */
  protocols: 'any' | string[];
  source: AddrMatch;
  destination: AddrMatch;
  /** `no nat`: traffic matching is left untranslated. */
  nonat: boolean;
  target?: Target;
  /** Translation port range; undefined = PF's default. */
  natPorts?: PortRange;
  staticPort: boolean;
  /** The admin already enabled endpoint-independent mapping on this rule. */
  eim: boolean;
  /** Pool type text as PF takes it, e.g. `round-robin sticky-address`, `source-hash 0x...`. */
  pool?: string;
  tag?: string;
  tagged?: string;
}

export interface WanInterface {
  /** Config name (`wan`, `opt1`) or, for pf.conf, the interface itself. */
  name: string;
  ifname: string;
  /** Static IPv4 address; undefined when DHCP/PPPoE or unknown. */
  ipv4?: string;
  hasGateway: boolean;
  /** Virtual IP addresses configured on this interface. */
  vips: string[];
}

export interface LanNetwork {
  name: string;
  ifname: string;
  cidr: string;
}

export interface RouterModel {
  platform: Platform;
  /** Appliance version when the config says (OPNsense/pfSense write it only indirectly; often undefined). */
  version?: string;
  wans: WanInterface[];
  lans: LanNetwork[];
  outbound: {
    mode: OutboundMode;
    /** The rules in PF evaluation order (manual first, automatic after, per mode), disabled ones removed. */
    rules: OutboundRule[];
  };
  /** NPTv6 or NAT66 (inet6 outbound NAT) is configured: only then may IPv6 rules be emitted. */
  ipv6Nat: boolean;
  /** For pf.conf input: whether `nat-anchor "<anchor>"` precedes every nat rule. */
  anchorHook?: { anchor: string; present: boolean; first: boolean };
  /** Things the reader could not model exactly; the generator passes them on. */
  warnings: string[];
}
