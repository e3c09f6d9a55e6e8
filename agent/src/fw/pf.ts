/**
 * pf PortMapBackend (FreeBSD, OPNsense, pfSense). The owner's rules live in one anchor, replaced whole
 * per batch of changes (one apply() = one load, whatever the number of changes in it): the text is first parsed with `pfctl -n -a ANCHOR -f -` and only then loaded with
 * `pfctl -a ANCHOR -f -`, which pf applies as one transaction, so a refused text leaves the previous
 * rules. rdr rules count only where the main ruleset has `rdr-anchor "ANCHOR"` (the conegate
 * OPNsense plugin and pfSense package add it; see pf-anchors.ts), so that is checked before the
 * first load. Per mapping, one rule:
 *   rdr pass on WAN inet proto udp from any|PEER [port P] to EXT port E tag cgpm-<id> -> INT port I
 * `pass` admits the translated flow without a separate filter rule; the tag carries the mapping id, so
 * list() can read the installed rules back with `pfctl -a ANCHOR -s nat` (pf keeps no comments).
 */
import { ConegateError } from '../errors.ts';
import { checkMapping, planChanges, sortMappings, type PortMapBackend, type PortMapChange, type PortMapping, type Transport } from './backend.ts';
import { spawnRunner, type CommandRunner } from './run.ts';
import { assertAnchorsReferenced, PMPD_ANCHOR } from './pf-anchors.ts';

/** The anchor the mappings are loaded into (the one place it is named; which anchor PF evaluates is decided there). */
export const PF_PMPD_ANCHOR = PMPD_ANCHOR;

export interface PfOptions {
  owner?: string;
  /** @default PF_PMPD_ANCHOR */
  anchor?: string;
  /** WAN interface for `rdr on`; without it the rule matches on any interface (the external address still must match). */
  wanIf?: string;
  run?: CommandRunner;
  /** @default 'pfctl' (tests pass a recording fake) */
  pfctl?: string;
}

const TAG_PREFIX = 'cgpm-';

export class PfBackend implements PortMapBackend {
  readonly name = 'pf';
  readonly owner: string;
  readonly anchor: string;
  private readonly run: CommandRunner;
  private readonly pfctl: string;
  private readonly wanIf: string | undefined;

  constructor(options: PfOptions = {}) {
    this.owner = options.owner ?? 'conegate-pmpd';
    this.anchor = options.anchor ?? PMPD_ANCHOR;
    if (!/^[A-Za-z0-9_/-]{1,63}$/.test(this.anchor)) throw new ConegateError('CG_CONFIG_INVALID', `bad pf anchor name ${this.anchor}`);
    if (options.wanIf !== undefined && !/^[A-Za-z0-9_.]{1,15}$/.test(options.wanIf)) throw new ConegateError('CG_CONFIG_INVALID', `bad interface name ${options.wanIf}`);
    this.run = options.run ?? spawnRunner();
    this.pfctl = options.pfctl ?? 'pfctl';
    this.wanIf = options.wanIf;
  }

  add(m: PortMapping): Promise<void> {
    return this.apply([{ op: 'add', mapping: m }]);
  }

  remove(id: string): Promise<void> {
    return this.apply([{ op: 'remove', id }]);
  }

  /**
   * Reads the anchor back before each batch (no cached copy: a `pmp flush` from the CLI must not be
   * undone by the next load), then checks and loads the result once, however many changes it holds.
   */
  async apply(changes: PortMapChange[]): Promise<void> {
    const plan = planChanges(await this.list(), changes);
    if (plan.added.length === 0 && plan.removed.length === 0) return;
    await this.load(plan.next);
  }

  async list(): Promise<PortMapping[]> {
    const r = await this.run([this.pfctl, '-a', this.anchor, '-s', 'nat']);
    if (r.code !== 0) {
      // An anchor that was never loaded is simply empty.
      if (/does not exist|No such file|Invalid argument/i.test(r.stderr)) return [];
      throw new ConegateError('CG_COMMAND_FAILED', `pfctl -a ${this.anchor} -s nat failed: ${r.stderr.trim()}`);
    }
    return sortMappings(parsePfNat(r.stdout));
  }

  async flush(): Promise<void> {
    await this.load([]);
  }

  /** The anchor text for a set of mappings (exported for golden tests). */
  render(ms: PortMapping[]): string {
    return renderPfAnchor(this.owner, sortMappings(ms), this.wanIf);
  }

  private anchorReferenced = false;

  private async load(ms: PortMapping[]): Promise<void> {
    if (ms.length && !this.anchorReferenced) {
      await assertAnchorsReferenced((args) => this.run([this.pfctl, ...args]), [{ type: 'rdr', name: this.anchor }]);
      this.anchorReferenced = true;
    }
    const text = this.render(ms);
    const check = await this.run([this.pfctl, '-n', '-a', this.anchor, '-f', '-'], text);
    if (check.code !== 0) throw new ConegateError('CG_FIREWALL_REJECTED', `pfctl -n refused the anchor text (nothing loaded): ${check.stderr.trim()}`, { context: { anchor: this.anchor } });
    const r = await this.run([this.pfctl, '-a', this.anchor, '-f', '-'], text);
    if (r.code !== 0) throw new ConegateError('CG_FIREWALL_ROLLED_BACK', `pfctl refused to load anchor ${this.anchor} (previous rules kept): ${r.stderr.trim()}`, { context: { anchor: this.anchor } });
  }
}

function peer(m: PortMapping): string {
  if (!m.remote) return 'from any';
  const net = m.remote.prefixLength === 32 ? m.remote.address : `${m.remote.address}/${m.remote.prefixLength}`;
  return `from ${net}${m.remote.port ? ` port ${m.remote.port}` : ''}`;
}

export function renderPfAnchor(owner: string, ms: PortMapping[], wanIf?: string): string {
  const on = wanIf ? ` on ${wanIf}` : '';
  const lines = [`# ${owner}: NAT-PMP/PCP mappings, generated; loaded whole with pfctl -a`];
  for (const m of ms) {
    lines.push(`rdr pass${on} inet proto ${m.transport} ${peer(m)} to ${m.externalAddress} port ${m.externalPort} tag ${TAG_PREFIX}${m.id} -> ${m.internalAddress} port ${m.internalPort}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Reads our rdr rules back from `pfctl -s nat`. pfctl prints ports as `port = N` and may reorder the
 * tag; both spellings are accepted. Rules without our tag are not ours and are ignored.
 */
export function parsePfNat(text: string): PortMapping[] {
  const out: PortMapping[] = [];
  const rule = /^rdr\b.*?\binet proto (udp|tcp) from (\S+)(?: port =? ?(\d+))? to (\S+) port =? ?(\d+).*?->\s*(\S+) port (\d+)/;
  for (const line of text.split('\n')) {
    const tag = / tag (\S+)/.exec(line)?.[1]?.replace(/^"|"$/g, '');
    if (!tag?.startsWith(TAG_PREFIX)) continue;
    const f = rule.exec(line.trim());
    if (!f) continue;
    const m: PortMapping = { id: tag.slice(TAG_PREFIX.length), transport: f[1] as Transport, externalAddress: f[4]!, externalPort: Number(f[5]), internalAddress: f[6]!, internalPort: Number(f[7]) };
    if (f[2] !== 'any') {
      const [address, len] = f[2]!.split('/');
      m.remote = { address: address!, prefixLength: len === undefined ? 32 : Number(len), port: f[3] === undefined ? 0 : Number(f[3]) };
    }
    try {
      checkMapping(m);
      out.push(m);
    } catch {
      // Not a rule we could have written; leave it alone.
    }
  }
  return out;
}
