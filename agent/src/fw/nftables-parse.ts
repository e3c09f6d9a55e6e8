/**
 * Reading our nftables table back from `nft -j list table ip cg_<owner>` (nftables.ts writes it):
 * the mappings are the elements of the dnat maps, each carrying its id in a comment; the fixed rules
 * are recognised by their comments. Mappings of the earlier layout (one rule per mapping, the whole
 * mapping in the rule's comment) are read too, so an upgrade carries them into the new table.
 */
import { ConegateError } from '../errors.ts';
import { checkMapping, type PortMapping, type Transport } from './backend.ts';

/** The comment of an element: the mapping id. */
export function ruleComment(id: string): string {
  return `cgpm2 ${id}`;
}

/**
 * The comments of the eight fixed rules, in the order nftables.ts renders them (per transport: peer
 * dnat, dnat, peer forward, forward). The WAN interface is part of them: a change of it reloads the table.
 */
export function skeletonComments(wanIf: string | undefined): string[] {
  const on = wanIf ? ` on ${wanIf}` : '';
  return ['udp', 'tcp'].flatMap((t) => [`peer dnat ${t}`, `dnat ${t}`, `peer forward ${t}`, `forward ${t}`]).map((w) => `cgpm2 ${w}${on}`);
}

export interface ParsedTable {
  mappings: PortMapping[];
  /** Comments of every rule in the table, in order. */
  ruleComments: string[];
}

type Json = Record<string, unknown>;

export function parseNftTable(text: string): ParsedTable {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConegateError('CG_COMMAND_FAILED', 'nft -j printed something that is not JSON');
  }
  const items = (doc as { nftables?: unknown[] }).nftables;
  const out: ParsedTable = { mappings: [], ruleComments: [] };
  if (!Array.isArray(items)) return out;
  for (const it of items as Json[]) {
    const rule = it.rule as { chain?: string; comment?: unknown } | undefined;
    if (rule) {
      const comment = typeof rule.comment === 'string' ? rule.comment : '';
      out.ruleComments.push(comment);
      const old = rule.chain === 'prerouting' ? parseMappingComment(comment) : undefined;
      if (old) out.mappings.push(old);
    }
    const map = it.map as { name?: string; elem?: unknown[] } | undefined;
    const transport = /^(dnat|peer)_(udp|tcp)$/.exec(map?.name ?? '')?.[2] as Transport | undefined;
    if (!map || !transport || !Array.isArray(map.elem)) continue;
    for (const e of map.elem) {
      const m = parseElement(transport, e);
      if (m) out.mappings.push(m);
    }
  }
  return out;
}

/** One `[key, value]` pair of a dnat (2-part key) or peer (4-part key) map; anything we could not have written is ignored. */
function parseElement(transport: Transport, e: unknown): PortMapping | undefined {
  if (!Array.isArray(e) || e.length !== 2) return undefined;
  const wrapped = (e[0] as { elem?: { val?: unknown; comment?: unknown } }).elem;
  const key = (wrapped ? wrapped.val : e[0]) as { concat?: unknown[] } | undefined;
  const comment = typeof wrapped?.comment === 'string' ? wrapped.comment : '';
  const value = (e[1] as { concat?: unknown[] } | undefined)?.concat;
  const id = /^cgpm2 (\S+)$/.exec(comment)?.[1];
  if (!id || !Array.isArray(key?.concat) || (key.concat.length !== 4 && key.concat.length !== 2) || !Array.isArray(value) || value.length !== 2) return undefined;
  const [ext, extPort, remote, remotePorts] = key.concat.length === 2 ? [...key.concat, { prefix: { addr: '0.0.0.0', len: 0 } }, 0] : key.concat;
  const [int, intPort] = value;
  if (typeof ext !== 'string' || typeof extPort !== 'number' || typeof int !== 'string' || typeof intPort !== 'number') return undefined;
  const m: PortMapping = { id, transport, externalAddress: ext, externalPort: extPort, internalAddress: int, internalPort: intPort };
  const net = remoteNet(remote);
  const port = remotePort(remotePorts);
  if (!net || port === undefined) return undefined;
  if (net.len !== 0) m.remote = { address: net.addr, prefixLength: net.len, port };
  else if (port !== 0) return undefined;
  try {
    checkMapping(m);
  } catch {
    return undefined;
  }
  return m;
}

function remoteNet(v: unknown): { addr: string; len: number } | undefined {
  if (typeof v === 'string') return { addr: v, len: 32 };
  const p = (v as { prefix?: { addr?: unknown; len?: unknown } } | undefined)?.prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return { addr: p.addr, len: p.len };
  return undefined;
}

/** A single port, or 0 for the whole range (PCP: remote port 0 = any). */
function remotePort(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  const r = (v as { range?: unknown[] } | undefined)?.range;
  return Array.isArray(r) && r[0] === 0 && r[1] === 65535 ? 0 : undefined;
}

/** The earlier layout's rule comment: "cgpm1 id transport ext extPort int intPort [remote/len rport]". */
export function mappingComment(m: PortMapping): string {
  const base = `cgpm1 ${m.id} ${m.transport} ${m.externalAddress} ${m.externalPort} ${m.internalAddress} ${m.internalPort}`;
  return m.remote ? `${base} ${m.remote.address}/${m.remote.prefixLength} ${m.remote.port}` : base;
}

export function parseMappingComment(text: string): PortMapping | undefined {
  const f = text.trim().split(/\s+/);
  if (f[0] !== 'cgpm1' || (f.length !== 7 && f.length !== 9)) return undefined;
  const m: PortMapping = { id: f[1]!, transport: f[2] as 'udp', externalAddress: f[3]!, externalPort: Number(f[4]), internalAddress: f[5]!, internalPort: Number(f[6]) };
  if (f.length === 9) {
    const [address, len] = f[7]!.split('/');
    m.remote = { address: address!, prefixLength: Number(len), port: Number(f[8]) };
  }
  try {
    checkMapping(m);
  } catch {
    return undefined;
  }
  return m;
}
