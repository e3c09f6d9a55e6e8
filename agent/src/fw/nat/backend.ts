/**
 * The two rule backends behind one interface: each owns one place in the ruleset (a PF anchor, an
 * nftables table) and can check, load and show a whole file for it. Loading is atomic in both:
 * `pfctl -a ANCHOR -f FILE` replaces the anchor in one transaction, and `nft -f FILE` is one
 * transaction (a failing command rolls back all of it).
 */
import type { CommandRunner } from './runner.ts';
import { runOk } from './runner.ts';
import { assertAnchorsReferenced, type PfPlatform } from '../pf-anchors.ts';

export interface RuleBackend {
  kind: 'pf' | 'nftables';
  /** The anchor (`natearly/conegate`) or table (`ip conegate`) this backend owns. */
  target: string;
  /** Dry run: the tool parses the file without changing anything. Throws CG_FIREWALL_REJECTED. */
  validate(file: string): Promise<void>;
  /** Loads the file atomically. Throws CG_FIREWALL_REJECTED; the old rules then stay in force. */
  load(file: string): Promise<void>;
  /** What the kernel has in our place now, as the tool prints it. */
  show(): Promise<string>;
  /** File text that leaves our place empty (what "no previous rules" means for a revert). */
  emptyText(): string;
  /** Number of rules `show()` output holds, to check a load took effect. */
  countRules(shown: string): number;
  /** Checks, before anything is loaded, that the ruleset will evaluate our place (PF: anchor references). */
  preflight?(): Promise<void>;
}

export function pfBackend(run: CommandRunner, anchor: string, pfctl = 'pfctl', platform?: PfPlatform): RuleBackend {
  return {
    kind: 'pf',
    target: anchor,
    // Our nat rules count only if the main ruleset steps into the anchor with a nat-anchor.
    preflight: () => assertAnchorsReferenced((args) => run(pfctl, args, { timeoutMs: 10_000 }), [{ type: 'nat', name: anchor }], platform),
    async validate(file) {
      await runOk(run, pfctl, ['-n', '-a', anchor, '-f', file], { code: 'CG_FIREWALL_REJECTED' });
    },
    async load(file) {
      await runOk(run, pfctl, ['-a', anchor, '-f', file], { code: 'CG_FIREWALL_REJECTED' });
    },
    async show() {
      return (await runOk(run, pfctl, ['-a', anchor, '-sn'])).stdout;
    },
    // An empty file loaded into an anchor flushes it, in the same atomic way as any load.
    emptyText: () => `# conegate: anchor ${anchor} emptied\n`,
    countRules: (shown) => shown.split('\n').filter((l) => /^(no )?nat /.test(l.trim())).length,
  };
}

/** `family name`, e.g. `ip conegate`. */
export function nftBackend(run: CommandRunner, table: string, nft = 'nft'): RuleBackend {
  return {
    kind: 'nftables',
    target: table,
    async validate(file) {
      await runOk(run, nft, ['-c', '-f', file], { code: 'CG_FIREWALL_REJECTED' });
    },
    async load(file) {
      await runOk(run, nft, ['-f', file], { code: 'CG_FIREWALL_REJECTED' });
    },
    async show() {
      const r = await run(nft, ['list', 'table', ...table.split(' ')]);
      return r.code === 0 ? r.stdout : '';
    },
    // `add` then `delete` removes the table whether or not it exists, in one transaction.
    emptyText: () => `add table ${table}\ndelete table ${table}\n`,
    countRules: (shown) => shown.split('\n').filter((l) => /\b(snat|masquerade|dnat|accept|drop)\b/.test(l) && !/^\s*(type|policy)\b/.test(l)).length,
  };
}
