/**
 * nftables PortMapBackend. The owner gets its own table (`ip cg_<owner>`) whose rules are fixed: they
 * are loaded once and never change per mapping. A mapping is one element of a map, so a batch of
 * changes is a few `add element` / `delete element` commands in ONE transaction, run through
 * libnftables in this process (nft-lib.ts) or written to a long-lived `nft -i` (nft-channel.ts), never a
 * spawn and a table rewrite per change. Per transport:
 *
 *   map dnat_<p> (hash):     ext addr . ext port                                   : int addr . int port
 *   map peer_<p> (interval): ext addr . ext port . remote addr/prefix . remote port(s) : int addr . int port
 *   prerouting (nat, before the usual dstnat), [iifname WAN]:
 *     dnat ip to ip daddr . <p> dport . ip saddr . <p> sport map @peer_<p>
 *     dnat ip to ip daddr . <p> dport map @dnat_<p>
 *   forward (filter): meta l4proto <p> ct status dnat, the flow's original tuple in the same map: accept
 *
 * A PCP PEER/FILTER mapping lives only in peer_<p>, its remote restriction part of the lookup key, so a
 * packet from another remote finds no element and is not translated (RFC 6887 13.3); port 0 ("any") is
 * the range 0-65535. Unrestricted mappings use the hash map because an interval (pipapo) map costs
 * O(elements) per transaction in the kernel (measured: 21 ms per change with 2000 elements, against
 * 2 ms for the hash map). An external endpoint is in at most one element (a clash refuses the batch),
 * so intervals never overlap. Each element's comment carries the mapping id; list() rebuilds every
 * mapping from the elements the kernel holds. A forward accept here cannot override a drop in another
 * table: on a router with a strict forward policy the admin's rules must admit `ct status dnat`.
 */
import { ConegateError } from '../errors.ts';
import { planChanges, sortMappings, type PortMapBackend, type PortMapChange, type PortMapping, type Transport } from './backend.ts';
import { NftChannel, type NftBatchRunner } from './nft-channel.ts';
import { LibNftables } from './nft-lib.ts';
import { parseNftTable, ruleComment, skeletonComments } from './nftables-parse.ts';
import { spawnRunner, type CommandRunner } from './run.ts';

export interface NftablesOptions {
  owner?: string;
  /** Only packets arriving on this interface are mapped (optional; the WAN address is always matched). */
  wanIf?: string;
  /** One-shot nft runs (list). */
  run?: CommandRunner;
  /** argv prefix for nft, e.g. ['ip', 'netns', 'exec', NS, 'nft'] in tests. @default ['nft'] */
  nft?: string[];
  /**
   * Where change batches go. @default libnftables in this process when `nft` is not given (the agent
   * runs in the namespace it manages), else, or where the library is missing, a long-lived `nft -i`.
   */
  channel?: NftBatchRunner;
}

/** Errors that came back from nft (as opposed to a batch refused before sending). */
const kernelErrors = new WeakSet<object>();
const OWNER = /^[a-z0-9_]{1,24}$/;
const TRANSPORTS: Transport[] = ['udp', 'tcp'];

export class NftablesBackend implements PortMapBackend {
  readonly name = 'nftables';
  readonly owner: string;
  readonly table: string;
  private readonly run: CommandRunner;
  private readonly nft: string[];
  private readonly wanIf: string | undefined;
  private readonly channel: NftBatchRunner;
  /** The mappings as last read or written; undefined = read the kernel before the next change. */
  private known: PortMapping[] | undefined;
  /** True once the table's fixed part is known to be in the kernel as we render it. */
  private skeleton = false;
  /** Where batches go: 'libnftables' (in process) or 'nft -i' (a long-lived process), or an injected one. */
  get channelKind(): string {
    return this.channel instanceof LibNftables ? 'libnftables' : this.channel instanceof NftChannel ? 'nft -i' : 'injected';
  }

  /** Counters for tests: batches sent, whole-table loads among them. */
  readonly stats = { batches: 0, tableLoads: 0 };

  constructor(options: NftablesOptions = {}) {
    this.owner = (options.owner ?? 'conegate_pmpd').replaceAll('-', '_');
    if (!OWNER.test(this.owner)) throw new ConegateError('CG_CONFIG_INVALID', `nftables owner must be [a-z0-9_]{1,24}, got ${this.owner}`);
    if (options.wanIf !== undefined && !/^[A-Za-z0-9_.:-]{1,15}$/.test(options.wanIf)) throw new ConegateError('CG_CONFIG_INVALID', `bad interface name ${options.wanIf}`);
    this.table = `cg_${this.owner}`;
    this.run = options.run ?? spawnRunner();
    this.nft = options.nft ?? ['nft'];
    this.wanIf = options.wanIf;
    this.channel = options.channel ?? (options.nft === undefined ? LibNftables.open() : undefined) ?? new NftChannel({ argv: [...this.nft, '-i'] });
  }

  add(m: PortMapping): Promise<void> {
    return this.apply([{ op: 'add', mapping: m }]);
  }

  remove(id: string): Promise<void> {
    return this.apply([{ op: 'remove', id }]);
  }

  async apply(changes: PortMapChange[]): Promise<void> {
    const cached = this.known !== undefined;
    try {
      await this.applyOnce(changes);
    } catch (err) {
      // A cached view may be stale (someone deleted our table) or nft died mid-batch: read the kernel
      // and try once more. A refused transaction changed nothing, so the retry starts from what is there.
      if (!cached || !kernelErrors.has(err as object)) throw err;
      await this.applyOnce(changes);
    }
  }

  async list(): Promise<PortMapping[]> {
    const r = await this.run([...this.nft, '-j', 'list', 'table', 'ip', this.table]);
    if (r.code !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) {
        this.known = [];
        this.skeleton = false;
        return [];
      }
      throw new ConegateError('CG_COMMAND_FAILED', `nft list table ip ${this.table} failed: ${r.stderr.trim()}`);
    }
    const t = parseNftTable(r.stdout);
    this.known = sortMappings(t.mappings);
    this.skeleton = [...t.ruleComments].sort().join('\n') === skeletonComments(this.wanIf).sort().join('\n');
    return [...this.known];
  }

  async flush(): Promise<void> {
    this.known = undefined;
    this.skeleton = false;
    await this.send(`table ip ${this.table}; delete table ip ${this.table}`);
    this.known = [];
  }

  async close(): Promise<void> {
    await this.channel.close();
  }

  /** The fixed part of the table, on one line (exported for golden tests). */
  renderSkeleton(): string {
    return renderSkeleton(this.table, this.wanIf);
  }

  private async applyOnce(changes: PortMapChange[]): Promise<void> {
    const current = this.known ?? (await this.list());
    const plan = planChanges(current, changes);
    if (plan.removed.length === 0 && plan.added.length === 0 && this.skeleton) return;
    const cmds = this.skeleton
      ? [...plan.removed.map((m) => `delete element ip ${this.table} ${mapOf(m)} { ${elementKey(m)} }`), ...plan.added.map((m) => this.addElement(m))]
      : [`table ip ${this.table}`, `delete table ip ${this.table}`, this.renderSkeleton(), ...plan.next.map((m) => this.addElement(m))];
    // Whatever happens, the next change re-reads the kernel unless this one is known to have landed.
    this.known = undefined;
    if (!this.skeleton) this.stats.tableLoads++;
    await this.send(cmds.join('; '));
    this.known = plan.next;
    this.skeleton = true;
  }

  private addElement(m: PortMapping): string {
    return `add element ip ${this.table} ${mapOf(m)} { ${elementKey(m)} comment "${ruleComment(m.id)}" : ${m.internalAddress} . ${m.internalPort} }`;
  }

  private async send(batch: string): Promise<void> {
    this.stats.batches++;
    try {
      await this.channel.run(batch);
    } catch (err) {
      this.known = undefined;
      this.skeleton = false;
      const out = (err as ConegateError).code === 'CG_FIREWALL_REJECTED' ? new ConegateError('CG_FIREWALL_REJECTED', `${(err as Error).message} (previous rules kept)`, { cause: err, context: { table: this.table } }) : err;
      kernelErrors.add(out as object);
      throw out;
    }
  }
}

/** Which map holds a mapping: peer_<p> when a remote restricts it, dnat_<p> otherwise. */
function mapOf(m: PortMapping): string {
  return `${m.remote ? 'peer' : 'dnat'}_${m.transport}`;
}

/** The lookup key: ext addr . ext port [. remote (prefix) . remote port (or all ports)]. */
export function elementKey(m: PortMapping): string {
  const r = m.remote;
  if (!r) return `${m.externalAddress} . ${m.externalPort}`;
  const net = r.prefixLength === 32 ? r.address : `${r.address}/${r.prefixLength}`;
  return `${m.externalAddress} . ${m.externalPort} . ${net} . ${r.port ? String(r.port) : '0-65535'}`;
}

export function renderSkeleton(table: string, wanIf?: string): string {
  const iif = wanIf ? `iifname "${wanIf}" ` : '';
  const c = skeletonComments(wanIf);
  const peerKey = 'ipv4_addr . inet_service . ipv4_addr . inet_service';
  const orig = 'ct original ip daddr . ct original proto-dst';
  const parts = [`table ip ${table} {`];
  for (const t of TRANSPORTS) {
    parts.push(`map dnat_${t} { type ipv4_addr . inet_service : ipv4_addr . inet_service; };`);
    parts.push(`map peer_${t} { type ${peerKey} : ipv4_addr . inet_service; flags interval; };`);
  }
  parts.push('chain prerouting { type nat hook prerouting priority dstnat - 10; policy accept;');
  for (const [i, t] of TRANSPORTS.entries()) {
    parts.push(`${iif}dnat ip to ip daddr . ${t} dport . ip saddr . ${t} sport map @peer_${t} comment "${c[4 * i]}";`);
    parts.push(`${iif}dnat ip to ip daddr . ${t} dport map @dnat_${t} comment "${c[4 * i + 1]}";`);
  }
  parts.push('};', 'chain forward { type filter hook forward priority filter - 10; policy accept;');
  for (const [i, t] of TRANSPORTS.entries()) {
    parts.push(`meta l4proto ${t} ct status dnat ${orig} . ct original ip saddr . ct original proto-src @peer_${t} accept comment "${c[4 * i + 2]}";`);
    parts.push(`meta l4proto ${t} ct status dnat ${orig} @dnat_${t} accept comment "${c[4 * i + 3]}";`);
  }
  parts.push('}; }');
  return parts.join(' ');
}
