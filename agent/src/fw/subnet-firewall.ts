/**
 * Where the subnet router's rules live (subnet-rules.ts makes them): our nftables table, our PF anchor,
 * or memory (the twin for unit tests). One small interface; one compliance suite (subnet-compliance.ts)
 * runs against each. Loading is atomic in both tools (`nft -f` is one transaction, `pfctl -a ANCHOR -f`
 * replaces the anchor in one), and is validated first (`nft -c`, `pfctl -n`): a refused ruleset leaves
 * the rules in force as they were.
 */
import { ConegateError } from '../errors.ts';
import { assertAnchorsReferenced, type PfPlatform } from './pf-anchors.ts';
import { spawnRunner, type CommandRunner } from './run.ts';
import { SUBNET_NFT_TABLE, SUBNET_PF_ANCHOR, subnetNftRemoveText, subnetNftText, subnetPfText, type SubnetPolicy } from './subnet-rules.ts';

export interface SubnetFirewall {
  readonly kind: 'nftables' | 'pf' | 'memory';
  /** Replaces our rules with those of `policy`, validated first; refused (CG_CONFIG_INVALID / CG_FIREWALL_REJECTED) = unchanged. */
  load(policy: SubnetPolicy): Promise<void>;
  /** Removes every rule of ours (idempotent). */
  clear(): Promise<void>;
  /** What is in force in our place now, read back from the firewall; '' when empty. */
  show(): Promise<string>;
}

async function ok(run: CommandRunner, argv: string[], input: string, code: 'CG_FIREWALL_REJECTED' | 'CG_COMMAND_FAILED'): Promise<void> {
  const r = await run(argv, input);
  if (r.code !== 0) throw new ConegateError(code, `${argv.join(' ')}: ${(r.stderr.trim() || `exit ${r.code}`).split('\n').slice(0, 3).join(' / ')}`);
}

export function nftSubnetFirewall(opts: { run?: CommandRunner; nft?: string[] } = {}): SubnetFirewall {
  const run = opts.run ?? spawnRunner();
  const nft = opts.nft ?? ['nft'];
  return {
    kind: 'nftables',
    async load(policy) {
      const text = subnetNftText(policy);
      await ok(run, [...nft, '-c', '-f', '-'], text, 'CG_FIREWALL_REJECTED');
      await ok(run, [...nft, '-f', '-'], text, 'CG_FIREWALL_REJECTED');
    },
    clear: () => ok(run, [...nft, '-f', '-'], subnetNftRemoveText(), 'CG_COMMAND_FAILED'),
    async show() {
      const r = await run([...nft, 'list', 'table', ...SUBNET_NFT_TABLE.split(' ')]);
      return r.code === 0 ? r.stdout : '';
    },
  };
}

export function pfSubnetFirewall(opts: { run?: CommandRunner; pfctl?: string; platform?: PfPlatform } = {}): SubnetFirewall {
  const run = opts.run ?? spawnRunner();
  const pfctl = opts.pfctl ?? 'pfctl';
  const a = SUBNET_PF_ANCHOR;
  return {
    kind: 'pf',
    async load(policy) {
      const text = subnetPfText(policy);
      // Rules in an anchor nothing steps into never match: refuse with the fix instead (pf-anchors.ts).
      const wants = [{ type: 'filter' as const, name: a }, ...(policy.snat ? [{ type: 'nat' as const, name: a }] : [])];
      await assertAnchorsReferenced((args) => run([pfctl, ...args]), wants, opts.platform);
      await ok(run, [pfctl, '-n', '-a', a, '-f', '-'], text, 'CG_FIREWALL_REJECTED');
      await ok(run, [pfctl, '-a', a, '-f', '-'], text, 'CG_FIREWALL_REJECTED');
    },
    // An empty file loaded into an anchor flushes it, in the same atomic way as any load.
    clear: () => ok(run, [pfctl, '-a', a, '-f', '-'], `# conegate: anchor ${a} emptied\n`, 'CG_COMMAND_FAILED'),
    async show() {
      const [nat, rules] = await Promise.all([run([pfctl, '-a', a, '-sn']), run([pfctl, '-a', a, '-sr'])]);
      return [nat, rules].filter((r) => r.code === 0).map((r) => r.stdout.trim()).filter(Boolean).join('\n');
    },
  };
}

/** The in-memory twin: keeps the nftables text it would load (the generator checks the policy). */
export class MemorySubnetFirewall implements SubnetFirewall {
  readonly kind = 'memory';
  private text = '';
  /** When set, the next load is refused as a firewall would (to test that callers stay consistent). */
  failNextLoad = false;
  readonly calls = { load: 0, clear: 0 };

  async load(policy: SubnetPolicy): Promise<void> {
    this.calls.load++;
    const text = subnetNftText(policy);
    if (this.failNextLoad) {
      this.failNextLoad = false;
      throw new ConegateError('CG_FIREWALL_REJECTED', 'memory firewall told to refuse');
    }
    this.text = text.split('\n').slice(2).join('\n');
  }

  async clear(): Promise<void> {
    this.calls.clear++;
    this.text = '';
  }

  async show(): Promise<string> {
    return this.text;
  }
}
