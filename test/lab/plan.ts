/**
 * Addressing and wiring of a lab, computed as plain data before any namespace exists.
 *
 * Address plan (documentation and shared ranges only):
 *   internet segment  203.0.113.0/24 + 2001:db8:ff::/64, bridge br0 in node `inet` (.1 / ::1)
 *   servers           203.0.113.(10+i) primary, 198.51.100.(10+i) alternate, 2001:db8:ff::(10+i)
 *   routers on inet   203.0.113.(100+j), 2001:db8:ff::(100+j)   (site routers and ISP routers)
 *   ISP m inside      100.64.(m+1).0/24 (cgnat) or 192.168.(m+101).0/24 (private); v6 2001:db8:(100+m)::/64
 *   site k LAN        10.(k+1).0.0/24, router .1, hosts .(10+i); v6 2001:db8:(k+1)::/64
 * The `inet` node routes between everything on the internet segment, including the servers' alternate
 * addresses and the sites' IPv6 prefixes, so every internet node needs only a default route to it.
 */
import type { MappingType, NatSpec, NormalizedSpec } from './spec.ts';

export type NodeKind = 'internet' | 'server' | 'isp' | 'router' | 'host';

/** One interface of a node, as built. */
export interface IfaceInfo {
  name: string;
  v4?: string;
  v4Prefix?: number;
  v6?: string;
  v6Prefix?: number;
}

/** A node of the plan: one network namespace. */
export interface PlanNode {
  /** Lab-wide name: `inet`, a server name, an ISP name, `<site>.router` or `<site>.<host>`. */
  name: string;
  kind: NodeKind;
  /** Bridge owned by this node (internet segment, ISP inside, site LAN), carrying its address there. */
  bridge?: IfaceInfo;
  /** The uplink interface (veth) of a non-internet node: `eth0` on hosts and servers, `wan0` on routers. */
  uplink?: IfaceInfo & { upstream: string; port: string; gw4: string; gw6?: string };
  /** Alternate IPv4 address (servers only), on eth0 as a /32. */
  alt4?: string;
  /** For routers and ISPs: NAT behaviour, LAN network and firewall options. */
  nat?: Required<NatSpec>;
  lanNet4?: string;
  firewall?: 'none' | 'udp-blocked';
  ipv6Inbound?: 'stateful' | 'open';
  /** Extra IPv6 routes `[prefix, via]` (inet and ISPs toward site prefixes). */
  routes6: Array<[string, string]>;
  /** Extra IPv4 on-link routes (inet: the servers' alternate network). */
  onlink4: Array<[string, string]>;
  forwarding: boolean;
  ipv6: boolean;
}

export interface Plan {
  nodes: PlanNode[];
}

const v6hex = (n: number): string => n.toString(16);

/** Builds the plan for a normalized spec. Node order: parents before children (build order). */
export function planLab(spec: NormalizedSpec): Plan {
  const nodes: PlanNode[] = [];
  const ipv6 = spec.ipv6;
  const inet: PlanNode = {
    name: 'inet',
    kind: 'internet',
    bridge: { name: 'br0', v4: '203.0.113.1', v4Prefix: 24, ...(ipv6 ? { v6: '2001:db8:ff::1', v6Prefix: 64 } : {}) },
    routes6: [],
    onlink4: [['198.51.100.0/24', 'br0']],
    forwarding: true,
    ipv6,
  };
  nodes.push(inet);
  let port = 0;
  const inetUplink = (v4: string, v6: string | undefined, ifname: string) => ({
    name: ifname,
    v4,
    v4Prefix: 24,
    ...(v6 ? { v6, v6Prefix: 64 } : {}),
    upstream: 'inet',
    port: `p${port++}`,
    gw4: '203.0.113.1',
    ...(v6 ? { gw6: '2001:db8:ff::1' } : {}),
  });
  spec.servers.forEach((name, i) => {
    nodes.push({
      name,
      kind: 'server',
      uplink: inetUplink(`203.0.113.${10 + i}`, ipv6 ? `2001:db8:ff::${v6hex(0x10 + i)}` : undefined, 'eth0'),
      alt4: `198.51.100.${10 + i}`,
      routes6: [],
      onlink4: [],
      forwarding: false,
      ipv6,
    });
  });
  let wanIndex = 0;
  const ispByName = new Map<string, PlanNode>();
  const ispSlots = new Map<string, number>();
  spec.isps.forEach((isp, m) => {
    const inside4 = isp.inside === 'cgnat' ? `100.64.${m + 1}` : `192.168.${m + 101}`;
    const j = wanIndex++;
    const node: PlanNode = {
      name: isp.name,
      kind: 'isp',
      uplink: inetUplink(`203.0.113.${100 + j}`, ipv6 ? `2001:db8:ff::${v6hex(0x100 + j)}` : undefined, 'wan0'),
      bridge: { name: 'lan0', v4: `${inside4}.1`, v4Prefix: 24, ...(ipv6 ? { v6: `2001:db8:${v6hex(0x100 + m)}::1`, v6Prefix: 64 } : {}) },
      nat: isp.nat,
      lanNet4: `${inside4}.0/24`,
      firewall: 'none',
      ipv6Inbound: 'open',
      routes6: [],
      onlink4: [],
      forwarding: true,
      ipv6,
    };
    nodes.push(node);
    ispByName.set(isp.name, node);
    ispSlots.set(isp.name, 0);
  });
  spec.sites.forEach((site, k) => {
    const lan4 = `10.${k + 1}.0`;
    const lan6 = `2001:db8:${v6hex(k + 1)}::`;
    let uplink: NonNullable<PlanNode['uplink']>;
    const isp = site.uplink === null ? undefined : ispByName.get(site.uplink);
    if (isp === undefined) {
      const j = wanIndex++;
      uplink = inetUplink(`203.0.113.${100 + j}`, ipv6 ? `2001:db8:ff::${v6hex(0x100 + j)}` : undefined, 'wan0');
    } else {
      const slot = ispSlots.get(isp.name)!;
      ispSlots.set(isp.name, slot + 1);
      const base4 = isp.bridge!.v4!.replace(/\.1$/, '');
      const base6 = isp.bridge!.v6?.replace(/::1$/, '::');
      uplink = {
        name: 'wan0',
        v4: `${base4}.${10 + slot}`,
        v4Prefix: 24,
        ...(base6 ? { v6: `${base6}${v6hex(0x10 + slot)}`, v6Prefix: 64 } : {}),
        upstream: isp.name,
        port: `p${port++}`,
        gw4: isp.bridge!.v4!,
        ...(isp.bridge!.v6 ? { gw6: isp.bridge!.v6 } : {}),
      };
    }
    const router: PlanNode = {
      name: `${site.name}.router`,
      kind: 'router',
      uplink,
      bridge: { name: 'lan0', v4: `${lan4}.1`, v4Prefix: 24, ...(site.ipv6 ? { v6: `${lan6}1`, v6Prefix: 64 } : {}) },
      nat: site.nat,
      lanNet4: `${lan4}.0/24`,
      firewall: site.firewall,
      ipv6Inbound: site.ipv6Inbound,
      routes6: [],
      onlink4: [],
      forwarding: true,
      ipv6,
    };
    nodes.push(router);
    if (site.ipv6 && uplink.v6) {
      // The prefix is routed hop by hop toward the internet: inet -> (ISP ->) router.
      if (isp) {
        isp.routes6.push([`${lan6}/64`, uplink.v6]);
        inet.routes6.push([`${lan6}/64`, isp.uplink!.v6!]);
      } else {
        inet.routes6.push([`${lan6}/64`, uplink.v6]);
      }
    }
    site.hosts.forEach((host, i) => {
      nodes.push({
        name: `${site.name}.${host}`,
        kind: 'host',
        uplink: {
          name: 'eth0',
          v4: `${lan4}.${10 + i}`,
          v4Prefix: 24,
          ...(site.ipv6 ? { v6: `${lan6}${v6hex(0x10 + i)}`, v6Prefix: 64, gw6: `${lan6}1` } : {}),
          upstream: router.name,
          port: `p${port++}`,
          gw4: `${lan4}.1`,
        },
        routes6: [],
        onlink4: [],
        forwarding: false,
        ipv6: site.ipv6,
      });
    });
  });
  return { nodes };
}

/** Mapping names in RFC 4787 words, with the folk name, for reports. */
export const MAPPING_WORDS: Record<MappingType, string> = {
  eim: 'endpoint-independent mapping',
  adm: 'address-dependent mapping',
  apdm: 'address-and-port-dependent mapping',
};
