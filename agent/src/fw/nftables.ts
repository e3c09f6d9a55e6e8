/**
 * nftables PortMapBackend. The owner gets its own table (`ip cg_<owner>`), rewritten whole with one
 * `nft -f -` transaction per change (add table; delete table; table {...}), so a rejected change
 * leaves the previous rules and other tables are never touched. Per mapping:
 *   prerouting (nat, before the usual dstnat): ip daddr WAN <proto> dport EXT [ip saddr PEER [sport P]]
 *                                               dnat to INT:PORT comment "<mapping as text>"
 *   forward (filter):                           ip daddr INT <proto> dport PORT [ip saddr PEER ...]
 *                                               ct status dnat accept
 * The comment carries the whole mapping, so list() reads the kernel's table back without keeping a
 * shadow copy: that is how a flush or a restart is noticed. A forward accept here cannot override a
 * drop in another table (every base chain must accept): on a router with a strict forward policy the
 * admin's own rules must admit `ct status dnat` (the lab's do).
 */
import { ConegateError } from '../errors.ts';
import { checkMapping, sortMappings, type PortMapBackend, type PortMapping } from './backend.ts';
import { spawnRunner, type CommandRunner } from './run.ts';

export interface NftablesOptions {
  owner?: string;
  /** Only packets arriving on this interface are mapped (optional; the WAN address is always matched). */
  wanIf?: string;
  run?: CommandRunner;
  /** argv prefix for nft, e.g. ['ip', 'netns', 'exec', NS, 'nft'] in tests. @default ['nft'] */
  nft?: string[];
}

const OWNER = /^[a-z0-9_]{1,24}$/;

export class NftablesBackend implements PortMapBackend {
  readonly name = 'nftables';
  readonly owner: string;
  readonly table: string;
  private readonly run: CommandRunner;
  private readonly nft: string[];
  private readonly wanIf: string | undefined;
  /** The table as last read or written: changes are made against it, so a change costs one nft run. */
  private known: PortMapping[] | undefined;

  constructor(options: NftablesOptions = {}) {
    this.owner = (options.owner ?? 'conegate_pmpd').replaceAll('-', '_');
    if (!OWNER.test(this.owner)) throw new ConegateError('CG_CONFIG_INVALID', `nftables owner must be [a-z0-9_]{1,24}, got ${this.owner}`);
    if (options.wanIf !== undefined && !/^[A-Za-z0-9_.:-]{1,15}$/.test(options.wanIf)) throw new ConegateError('CG_CONFIG_INVALID', `bad interface name ${options.wanIf}`);
    this.table = `cg_${this.owner}`;
    this.run = options.run ?? spawnRunner();
    this.nft = options.nft ?? ['nft'];
    this.wanIf = options.wanIf;
  }

  async add(m: PortMapping): Promise<void> {
    checkMapping(m);
    const cur = (await this.current()).filter((x) => x.id !== m.id);
    const clash = cur.find((x) => x.transport === m.transport && x.externalPort === m.externalPort && x.externalAddress === m.externalAddress);
    if (clash) throw new ConegateError('CG_FIREWALL_REJECTED', `external ${m.transport}/${m.externalPort} already mapped by ${clash.id}`);
    await this.apply([...cur, m]);
  }

  async remove(id: string): Promise<void> {
    const cur = await this.current();
    if (!cur.some((x) => x.id === id)) return;
    await this.apply(cur.filter((x) => x.id !== id));
  }

  async list(): Promise<PortMapping[]> {
    const r = await this.run([...this.nft, '-j', 'list', 'table', 'ip', this.table]);
    if (r.code !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) return [];
      throw new ConegateError('CG_COMMAND_FAILED', `nft list table ip ${this.table} failed: ${r.stderr.trim()}`);
    }
    this.known = sortMappings(parseNftJson(r.stdout));
    return [...this.known];
  }

  async flush(): Promise<void> {
    this.known = undefined;
    await this.transaction(`table ip ${this.table}\ndelete table ip ${this.table}\n`);
    this.known = [];
  }

  private async current(): Promise<PortMapping[]> {
    return this.known ? [...this.known] : this.list();
  }

  /** The whole table text for a set of mappings (exported for golden tests). */
  render(ms: PortMapping[]): string {
    return renderNftTable(this.table, sortMappings(ms), this.wanIf);
  }

  private async apply(ms: PortMapping[]): Promise<void> {
    // Whatever happens, the next change re-reads the kernel unless this one is known to have landed.
    this.known = undefined;
    await this.transaction(`table ip ${this.table}\ndelete table ip ${this.table}\n${this.render(ms)}`);
    this.known = sortMappings(ms);
  }

  private async transaction(text: string): Promise<void> {
    const r = await this.run([...this.nft, '-f', '-'], text);
    if (r.code !== 0) throw new ConegateError('CG_FIREWALL_REJECTED', `nft refused the change (previous rules kept): ${r.stderr.trim()}`, { context: { table: this.table } });
  }
}

/** The comment that describes a mapping: "cgpm1 id transport ext extPort int intPort [remote/len rport]". */
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

function remoteMatch(m: PortMapping): string {
  if (!m.remote) return '';
  const net = m.remote.prefixLength === 32 ? m.remote.address : `${m.remote.address}/${m.remote.prefixLength}`;
  return ` ip saddr ${net}${m.remote.port ? ` ${m.transport} sport ${m.remote.port}` : ''}`;
}

export function renderNftTable(table: string, ms: PortMapping[], wanIf?: string): string {
  const iif = wanIf ? ` iifname "${wanIf}"` : '';
  const pre = ms.map((m) => `    ${iif.trim() ? iif.trim() + ' ' : ''}ip daddr ${m.externalAddress} ${m.transport} dport ${m.externalPort}${remoteMatch(m)} dnat to ${m.internalAddress}:${m.internalPort} comment "${mappingComment(m)}"`);
  const fwd = ms.map((m) => `    ip daddr ${m.internalAddress} ${m.transport} dport ${m.internalPort}${remoteMatch(m)} ct status dnat accept comment "${m.id}"`);
  return [
    `table ip ${table} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat - 10; policy accept;',
    ...pre,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter - 10; policy accept;',
    ...fwd,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Mappings from `nft -j list table` output: the comments of prerouting rules. */
export function parseNftJson(text: string): PortMapping[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConegateError('CG_COMMAND_FAILED', 'nft -j printed something that is not JSON');
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  const out: PortMapping[] = [];
  for (const it of items) {
    const rule = (it as { rule?: { chain?: string; comment?: string } }).rule;
    if (rule?.chain !== 'prerouting' || typeof rule.comment !== 'string') continue;
    const m = parseMappingComment(rule.comment);
    if (m) out.push(m);
  }
  return out;
}
