/**
 * Firewall rules for a subnet router (issue 18 "Subnet routing"): the node routes its advertised LAN
 * prefixes for the mesh, so traffic arriving on the mesh interface for those prefixes is forwarded into
 * the LAN, replies go back, and nothing else arriving from the mesh is forwarded (a subnet router is not
 * an exit node: mesh peers must not reach the WAN or other networks through it). With `snat`, mesh
 * traffic entering the LAN is source-NATed to the router's LAN address, so LAN hosts answer without a
 * route back to the mesh (they reply to the router as to any neighbour); without it, LAN hosts (or their
 * default gateway) need a route for the mesh and the remote sites' prefixes via this router.
 *
 * Pure: text for `nft -f` (one table of ours, replaced in one transaction) and for `pfctl -a ANCHOR -f`
 * (one anchor, replaced in one transaction). Every input is checked here (interface names, prefixes),
 * since this text reaches a root tool.
 */
import { ConegateError } from '../errors.ts';
import { formatCidr, parseCidr } from '../net/ip.ts';

export interface SubnetRoute {
  /** An advertised prefix (zero host bits). */
  cidr: string;
  /** The LAN interface it is on (PF's nat rule names it; nftables does not need it). */
  lanIf?: string;
}

export interface SubnetPolicy {
  /** The mesh (TUN) interface. */
  meshIf: string;
  routes: SubnetRoute[];
  /** Source NAT of mesh traffic into the LAN (mesh.snatSubnetRoutes). */
  snat: boolean;
}

/** Our nftables table; nothing else of the host's ruleset is touched. */
export const SUBNET_NFT_TABLE = 'inet conegate_subnet';
/** Our PF anchor; the main ruleset needs `nat-anchor "conegate/subnet"` and `anchor "conegate/subnet"`. */
export const SUBNET_PF_ANCHOR = 'conegate/subnet';
/** PF tag for packets admitted from the mesh, so the nat rule on the LAN side takes only those. */
const PF_TAG = 'CG_SUBNET';

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function bad(msg: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', msg);
}

interface Checked {
  meshIf: string;
  v4: SubnetRoute[];
  v6: SubnetRoute[];
}

function check(p: SubnetPolicy): Checked {
  if (!IFNAME.test(p.meshIf)) bad(`mesh interface "${p.meshIf}" is not an interface name`);
  const v4: SubnetRoute[] = [];
  const v6: SubnetRoute[] = [];
  const seen = new Set<string>();
  for (const r of p.routes) {
    const c = parseCidr(r.cidr);
    if (!c || !r.cidr.includes('/')) bad(`route "${r.cidr}" is not a prefix with zero host bits`);
    if (c.prefixLen === 0) bad(`route "${r.cidr}": a default route is not a subnet route`);
    if (r.lanIf !== undefined && (!IFNAME.test(r.lanIf) || r.lanIf === p.meshIf)) bad(`route ${r.cidr}: "${r.lanIf}" is not a LAN interface name`);
    const cidr = formatCidr(c);
    if (seen.has(cidr)) continue;
    seen.add(cidr);
    (c.family === 4 ? v4 : v6).push({ cidr, ...(r.lanIf ? { lanIf: r.lanIf } : {}) });
  }
  return { meshIf: p.meshIf, v4, v6 };
}

const elements = (rs: SubnetRoute[]) => rs.map((r) => r.cidr).join(', ');

/**
 * `table inet conegate_subnet`. The forward chain runs at `filter - 5`: an accept here does not override
 * a drop in another table's forward chain (every base chain must accept), so on a router whose own
 * forward policy drops, the admin admits the mesh interface there too; a drop here always holds.
 * The nat chain runs at `srcnat - 5`, before the router's own masquerade, and decides only for packets
 * from the mesh to our prefixes.
 */
export function subnetNftText(policy: SubnetPolicy): string {
  const p = check(policy);
  const mesh = `"${p.meshIf}"`;
  const lines = [`table ${SUBNET_NFT_TABLE}`, `delete table ${SUBNET_NFT_TABLE}`, `table ${SUBNET_NFT_TABLE} {`];
  if (p.v4.length) lines.push(`  set routes4 { type ipv4_addr; flags interval; elements = { ${elements(p.v4)} }; }`);
  if (p.v6.length) lines.push(`  set routes6 { type ipv6_addr; flags interval; elements = { ${elements(p.v6)} }; }`);
  lines.push('  chain forward {', '    type filter hook forward priority filter - 5; policy accept;');
  if (p.v4.length) lines.push(`    iifname ${mesh} ip daddr @routes4 accept comment "mesh to an advertised subnet"`);
  if (p.v6.length) lines.push(`    iifname ${mesh} ip6 daddr @routes6 accept comment "mesh to an advertised subnet"`);
  lines.push(
    `    iifname ${mesh} ct state established,related accept comment "replies to connections the LAN opened"`,
    `    iifname ${mesh} drop comment "not an exit node: nothing else from the mesh is forwarded"`,
    '  }',
  );
  if (policy.snat && (p.v4.length || p.v6.length)) {
    lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat - 5; policy accept;');
    if (p.v4.length) lines.push(`    iifname ${mesh} ip daddr @routes4 masquerade comment "mesh into the LAN as the router"`);
    if (p.v6.length) lines.push(`    iifname ${mesh} ip6 daddr @routes6 masquerade comment "mesh into the LAN as the router"`);
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** What empties our place in nftables: `add` then `delete`, whether or not the table exists. */
export function subnetNftRemoveText(): string {
  return `table ${SUBNET_NFT_TABLE}\ndelete table ${SUBNET_NFT_TABLE}\n`;
}

/**
 * The PF anchor: filter rules (quick, so later rules of the main ruleset cannot undo them where the
 * anchor is stepped into before them) and, with snat, one nat rule per prefix on its LAN interface,
 * taking only packets the mesh rule tagged. PF keeps state, so replies pass without rules.
 */
export function subnetPfText(policy: SubnetPolicy): string {
  const p = check(policy);
  const all = [...p.v4.map((r) => ({ ...r, af: 'inet' })), ...p.v6.map((r) => ({ ...r, af: 'inet6' }))];
  const out: string[] = [`# conegate subnet routing: mesh interface ${p.meshIf} <-> advertised subnets`];
  if (policy.snat) {
    for (const r of all) {
      if (!r.lanIf) bad(`route ${r.cidr}: no interface of this host holds an address in it (PF source NAT names the LAN interface)`);
      out.push(`# mesh traffic into ${r.cidr} leaves as the router's ${r.lanIf} address (mesh.snatSubnetRoutes)`);
      out.push(`nat on ${r.lanIf} ${r.af} from any to ${r.cidr} tagged ${PF_TAG} -> (${r.lanIf}:0)`);
    }
  }
  for (const r of all) {
    out.push(`# mesh to the advertised subnet ${r.cidr}`);
    out.push(`pass in quick on ${p.meshIf} ${r.af} from any to ${r.cidr} tag ${PF_TAG} keep state`);
  }
  out.push('# the mesh may reach this router itself (its mesh addresses)');
  out.push(`pass in quick on ${p.meshIf} from any to (${p.meshIf}) keep state`);
  out.push('# not an exit node: nothing else from the mesh is forwarded');
  out.push(`block drop in quick on ${p.meshIf} all`);
  return out.join('\n') + '\n';
}
