/**
 * nftables ruleset of a lab router: IPv4 NAPT with a chosen RFC 4787 mapping and filtering behaviour,
 * optional hairpinning, an optional "TCP 443 only" firewall, and a stateful IPv6 forward policy.
 * Pure: returns the text given to `nft -f` inside the router's namespace. Everything lives in one
 * table (`inet lab`), replaced atomically, so other tables (conegate's own) can sit beside it.
 *
 * How each behaviour is built, and why it behaves that way:
 * - Mapping. Linux NAT chooses the external port once per conntrack entry, i.e. per 5-tuple.
 *   eim:  `snat to WAN` without a port range: the kernel keeps the source port whenever the translated
 *         tuple is unused, so one internal socket keeps one external port for every destination.
 *         It changes only when two LAN sockets with the same port talk to the same remote endpoint
 *         (a port clash), the one case where a port-preserving NAT must pick another port.
 *   adm:  `snat to WAN:jhash(internal addr . internal port . remote addr)`: the port is a function of
 *         the socket and the remote address only, so every port of one remote address shares it and
 *         another remote address gets another one (unless the hash collides: about 1 in 40000).
 *   apdm: `snat to WAN random` (NF_NAT_RANGE_PROTO_RANDOM): the port is drawn per conntrack entry, so
 *         every remote endpoint gets its own port: the symmetric / "hard" NAT.
 * - Filtering. conntrack admits only replies from the exact remote endpoint of an entry: that alone is
 *   address-and-port-dependent filtering (apdf). For looser filtering the router records each outbound
 *   UDP translation in dynamic maps (after srcnat, so the packet already carries its external port):
 *     @mappings  external port              -> internal addr . port   (eif and hairpin lookups)
 *     @adf       external port . remote addr -> internal addr . port   (adf lookups)
 *   An inbound packet to WAN:port that matches no conntrack entry is dnat'ed through @mappings (eif:
 *   any remote) or @adf (adf: only a remote address the socket sent to), and the forward chain accepts
 *   dnat'ed flows. Records expire after `timeoutSec` without outbound traffic.
 * - Hairpin: a LAN packet to WAN:port is dnat'ed through @mappings and source-NATed to the WAN address
 *   with the same mapping statement, so the target sees the sender's external endpoint (RFC 4787 REQ-9).
 *   Without hairpin such packets are dropped at the router.
 */
import type { MappingType, NatSpec } from './spec.ts';

export interface RouterRulesInput {
  wanIf: string;
  lanIf: string;
  wan4: string;
  lanNet4: string;
  nat: Required<NatSpec>;
  firewall: 'none' | 'udp-blocked';
  ipv6Inbound: 'stateful' | 'open';
}

/** The name of the lab's own table on every router. */
export const LAB_TABLE = 'lab';

/** The nft statement that source-NATs to the WAN address with the mapping behaviour asked for. */
export function mappingStatement(mapping: MappingType, wan4: string): string[] {
  switch (mapping) {
    case 'eim':
      return [`snat ip to ${wan4}`];
    case 'adm':
      // Ports 20000-59999; TCP and UDP only (other protocols have no port to choose).
      return [`meta l4proto { tcp, udp } snat ip to ${wan4}:jhash ip saddr . th sport . ip daddr mod 40000 offset 20000`, `snat ip to ${wan4}`];
    case 'apdm':
      return [`snat ip to ${wan4} random`];
  }
}

/** Full ruleset text: deletes and recreates `table inet lab` in one transaction. */
export function routerRuleset(r: RouterRulesInput): string {
  const wan = `"${r.wanIf}"`;
  const lan = `"${r.lanIf}"`;
  const t = r.nat.timeoutSec;
  const snat = mappingStatement(r.nat.mapping, r.wan4);
  const pre: string[] = [];
  if (r.nat.filtering === 'eif') pre.push(`iifname ${wan} ip daddr ${r.wan4} dnat ip to udp dport map @mappings`);
  if (r.nat.filtering === 'adf') pre.push(`iifname ${wan} ip daddr ${r.wan4} dnat ip to udp dport . ip saddr map @adf`);
  if (r.nat.hairpin) pre.push(`iifname ${lan} ip daddr ${r.wan4} dnat ip to udp dport map @mappings`);
  const post: string[] = [];
  if (r.nat.hairpin) post.push(...snat.map((s) => `oifname ${lan} ip saddr ${r.lanNet4} ct status dnat ${s}`));
  post.push(...snat.map((s) => `oifname ${wan} meta nfproto ipv4 ${s}`));
  const outbound = r.firewall === 'udp-blocked' ? [`iifname ${lan} oifname ${wan} tcp dport 443 accept`, `iifname ${lan} oifname ${wan} drop`] : [];
  const lines = [
    `table inet ${LAB_TABLE}`,
    `delete table inet ${LAB_TABLE}`,
    `table inet ${LAB_TABLE} {`,
    `  map mappings { type inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${t}s; }`,
    `  map adf { type inet_service . ipv4_addr : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${t}s; }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...pre.map((l) => `    ${l}`),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...post.map((l) => `    ${l}`),
    `  }`,
    // After srcnat: the packet carries its external port, the conntrack entry the internal endpoint.
    `  chain record {`,
    `    type filter hook postrouting priority srcnat + 10; policy accept;`,
    `    oifname ${wan} meta nfproto ipv4 meta l4proto udp ct direction original ct status snat update @mappings { udp sport : ct original ip saddr . ct original proto-src }`,
    `    oifname ${wan} meta nfproto ipv4 meta l4proto udp ct direction original ct status snat update @adf { udp sport . ip daddr : ct original ip saddr . ct original proto-src }`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy drop;`,
    `    ct state established,related accept`,
    `    ct state invalid drop`,
    ...outbound.map((l) => `    ${l}`),
    `    iifname ${lan} accept`,
    // Flows a prerouting dnat admitted (eif/adf/hairpin here, or port mappings other tables add).
    `    meta nfproto ipv4 ct status dnat accept`,
    `    meta l4proto ipv6-icmp accept`,
    ...(r.ipv6Inbound === 'open' ? [`    iifname ${wan} meta nfproto ipv6 accept`] : []),
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    ...(r.nat.hairpin ? [] : [`    iifname ${lan} ip daddr ${r.wan4} meta l4proto udp drop`]),
    `  }`,
    `}`,
  ];
  return lines.join('\n') + '\n';
}
