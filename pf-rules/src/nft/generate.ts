/**
 * The nftables counterpart: the same policy (endpoint-independent mapping for chosen UDP flows,
 * filtering untouched) with what Linux can guarantee.
 *
 * - Mapping. Linux NAT keeps a socket's source port whenever the translated tuple is unique, and it
 *   is unique for every new destination, so `snat to ADDR` / `masquerade` WITHOUT `random` or
 *   `fully-random` maps one internal addr:port to the same external port for all destinations.
 *   Routers that are "hard" usually say `masquerade random` (a fresh port per flow); our chain runs
 *   first and says it without `random`.
 * - Collisions. Two LAN hosts sending from the same port would both want that port; where the scope
 *   names such hosts and ports, we add an explicit rule per extra (host, port) with its own external
 *   port (`masquerade to :P`), so each socket has one stable, distinct mapping.
 * - Order. For each hook, netfilter decides the NAT binding of a new connection in the first nat
 *   chain (by priority) whose rule gives a NAT verdict; later nat chains on that hook are not asked
 *   for that connection. So our chain sits at `srcnat - 10` (90), before the router's own
 *   postrouting masquerade at `srcnat` (100), and only our UDP rules decide for UDP in scope.
 * - Filtering is not touched: inbound packets still need a conntrack entry for their exact
 *   5-tuple, so nothing is opened to the world (address-and-port-dependent filtering).
 * - Atomic: the file is `add table` + `delete table` + `table { ... }`, one `nft -f` transaction
 *   that replaces our table whole; `nft -c -f` is the dry run. IPv6 is left alone.
 */
import { commentText } from '../render.ts';
import { ConegateError } from '../../../agent/src/errors.ts';
import { parseIPv4 } from '../../../agent/src/net/ip.ts';
import { canonicalCidr, cidrFamily, formatPortRange, parsePortText } from '../hosts.ts';
import type { PortRange } from '../model.ts';

export const NFT_TABLE = 'ip conegate';

export interface NftWan {
  ifname: string;
  /** Literal source address to translate to; undefined = the interface's address (masquerade). */
  address?: string;
}

export interface NftPolicy {
  wans: NftWan[];
  /** Internal sources (IPv4 CIDRs); empty = all UDP leaving the WANs. */
  sources: string[];
  /** Internal source ports ("N" or "N-M"); empty = all. */
  ports: string[];
  /** UDP ports of the router's own sockets (the mesh port when it is a mesh node): what it sends from
   * its own addresses keeps the port for every destination too. */
  ownPorts?: number[];
  /**
   * Ports several chosen hosts use at once (the mesh port): every host after the first gets an
   * explicit mapping per port. Default: the single ports listed in `ports`.
   */
  sharedPorts?: number[];
  /** Where extra mappings for colliding (host, port) pairs take their external ports. */
  collisionRange?: PortRange;
}

export interface NftResult {
  table: string;
  rules: { why: string; line: string }[];
  text: string;
  warnings: string[];
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

function bad(msg: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', msg);
}

function set(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

export function generateNft(policy: NftPolicy): NftResult {
  if (policy.wans.length === 0) bad('nat.wan: name the WAN interface(s) for the nftables backend');
  for (const w of policy.wans) {
    if (!IFNAME.test(w.ifname)) bad(`nat.wan: "${w.ifname}" is not an interface name`);
    if (w.address !== undefined && !parseIPv4(w.address)) bad(`WAN address "${w.address}" is not an IPv4 address`);
  }
  const sources = policy.sources.map((s) => {
    if (cidrFamily(s) !== 4) bad(`nat.scope.sources: "${s}" is IPv6; the nftables backend leaves IPv6 alone`);
    return canonicalCidr(s);
  });
  const ports = policy.ports.map((p) => parsePortText(p) ?? bad(`nat.scope.ports: "${p}" is not a port or range`));
  const ownPorts = [...new Set(policy.ownPorts ?? [])];
  for (const p of ownPorts) if (!Number.isInteger(p) || p < 1 || p > 65535) bad(`own port ${p} is not a port number`);
  const warnings: string[] = [];
  const rules: { why: string; line: string }[] = [];
  const range = policy.collisionRange ?? { from: 61000, to: 61999 };
  // Hosts named one by one and single ports: the pairs that would share an external port.
  const hosts = sources.filter((s) => !s.includes('/'));
  const singlePorts = policy.sharedPorts ?? ports.filter((p) => p.from === p.to).map((p) => p.from);
  for (const p of singlePorts) if (!Number.isInteger(p) || p < 1 || p > 65535) bad(`shared port ${p} is not a port number`);
  const explicit: { host: string; port: number; ext: number }[] = [];
  let next = range.from;
  if (hosts.length > 1) {
    for (const port of singlePorts) {
      for (const host of hosts.slice(1)) {
        if (next > range.to) bad(`no room left in ${range.from}-${range.to} for explicit mappings`);
        explicit.push({ host, port, ext: next++ });
      }
    }
  }
  for (const w of policy.wans) {
    const to = (port?: number) => (w.address ? `snat to ${w.address}${port ? `:${port}` : ''}` : `masquerade${port ? ` to :${port}` : ''}`);
    const toWhy = w.address ? `source address ${w.address}` : `the address of ${w.ifname}`;
    // The router's own socket: the LAN scope never matches what the router sends from its own address,
    // and a router whose masquerade says "random" would give its mesh socket a new port per destination.
    if (ownPorts.length) {
      rules.push({
        why: `the router's own socket on UDP ${ownPorts.join(', ')} (the mesh port), sent from this router's own address: ${toWhy}, source port kept for every destination`,
        line: `oifname "${w.ifname}" fib saddr type local udp sport ${set(ownPorts.map(String))} ${to()}`,
      });
    }
    for (const e of explicit) {
      rules.push({
        why: `explicit mapping: ${e.host}:${e.port} shares its port with ${hosts[0]} (which keeps ${e.port}), so it gets its own stable external port ${e.ext} on ${w.ifname}`,
        line: `oifname "${w.ifname}" ip saddr ${e.host} udp sport ${e.port} ${to(e.ext)}`,
      });
    }
    const match = [`oifname "${w.ifname}"`, sources.length ? `ip saddr ${set(sources)}` : '', ports.length ? `udp sport ${set(ports.map(formatPortRange).map((p) => p.replace(':', '-')))}` : 'meta l4proto udp'].filter(Boolean).join(' ');
    rules.push({
      why: `endpoint-independent mapping on ${w.ifname}: ${toWhy}, source port kept for every destination (no "random"); decided here before the router's own masquerade`,
      line: `${match} ${to()}`,
    });
  }
  if (sources.length === 0) warnings.push('no nat.scope.sources: every UDP flow leaving the WAN gets port-preserving NAT');
  const body = rules.flatMap((r) => [`\t\t# ${commentText(r.why)}`, `\t\t${r.line}`]);
  const text = [
    `# conegate NAT table "${NFT_TABLE}": endpoint-independent UDP mapping; filtering unchanged, nothing inbound opened.`,
    '# Replaces only our own table, atomically. Undo: conegate pf revert --backend nftables (or nft delete table ' + NFT_TABLE + ').',
    `add table ${NFT_TABLE}`,
    `delete table ${NFT_TABLE}`,
    `table ${NFT_TABLE} {`,
    '\t# Priority srcnat - 10 (90): the first nat chain to give a verdict decides a new connection\'s binding,',
    '\t# so this must run before the router\'s own postrouting masquerade (srcnat, 100).',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat - 10; policy accept;',
    ...body,
    '\t}',
    '}',
    '',
  ].join('\n');
  return { table: NFT_TABLE, rules, text, warnings };
}
