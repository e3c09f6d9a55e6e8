import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../errors.ts';
import { checkMixedAnchorText } from '../../../pf-rules/src/filter-grammar.ts';
import type { CommandRunner } from './run.ts';
import { subnetFirewallCompliance } from './subnet-compliance.ts';
import { MemorySubnetFirewall, nftSubnetFirewall, pfSubnetFirewall } from './subnet-firewall.ts';

subnetFirewallCompliance('memory', async () => new MemorySubnetFirewall());

/**
 * An in-process pfctl for the subnet anchor (PF cannot run here): `-n -f -` and `-f -` parse the text
 * with the pf.conf grammar check (a line it refuses is a syntax error, nothing loaded); `-s nat` /
 * `-s rules` print the main ruleset's anchor references; `-a ANCHOR -sn` / `-sr` print what is loaded.
 */
function fakePfctl(main: string[]) {
  const anchors = new Map<string, string>();
  const calls: string[][] = [];
  const run: CommandRunner = async (argv, input) => {
    calls.push(argv);
    const args = argv.slice(1);
    const a = args.includes('-a') ? args[args.indexOf('-a') + 1]! : undefined;
    if (args.includes('-f')) {
      try {
        checkMixedAnchorText(input ?? '');
      } catch (e) {
        return { code: 1, stdout: '', stderr: `stdin:1: syntax error (${(e as Error).message})` };
      }
      if (!args.includes('-n')) anchors.set(a!, input ?? '');
      return { code: 0, stdout: '', stderr: '' };
    }
    const rules = (kind: 'nat' | 'filter') => (anchors.get(a!) ?? '').split('\n').filter((l) => l && !l.startsWith('#') && (kind === 'nat') === l.startsWith('nat ')).join('\n');
    if (a && args.includes('-sn')) return { code: 0, stdout: rules('nat'), stderr: '' };
    if (a && args.includes('-sr')) return { code: 0, stdout: rules('filter'), stderr: '' };
    const what = args[args.indexOf('-s') + 1];
    return { code: 0, stdout: main.filter((l) => (what === 'nat' ? /^(nat|rdr|binat)-anchor/.test(l) : /^anchor/.test(l))).join('\n'), stderr: '' };
  };
  return { run, anchors, calls };
}

subnetFirewallCompliance('pf (fake pfctl, pf.conf grammar)', async () => pfSubnetFirewall({ run: fakePfctl(['nat-anchor "conegate/*"', 'anchor "conegate/*"']).run }));

test('pf: an anchor the main ruleset does not step into is refused with the fix, nothing loaded', async () => {
  const fake = fakePfctl(['nat-anchor "conegate/*"']);
  const fw = pfSubnetFirewall({ run: fake.run, platform: 'freebsd' });
  await assert.rejects(fw.load({ meshIf: 'cg0', routes: [{ cidr: '10.2.0.0/24', lanIf: 'igb1' }], snat: true }), (e) => isConegateError(e) && e.code === 'CG_ANCHOR_UNREFERENCED' && /anchor "conegate\/subnet"/.test(e.message));
  assert.equal(fake.anchors.size, 0);
  assert.ok(!fake.calls.some((c) => c.includes('-f')));
});

test('nftables: the dry run comes first and a refused check loads nothing', async () => {
  const calls: string[][] = [];
  const run: CommandRunner = async (argv) => {
    calls.push(argv);
    return argv.includes('-c') ? { code: 1, stdout: '', stderr: 'Error: Could not process rule' } : { code: 0, stdout: '', stderr: '' };
  };
  const fw = nftSubnetFirewall({ run });
  await assert.rejects(fw.load({ meshIf: 'cg0', routes: [{ cidr: '10.2.0.0/24' }], snat: true }), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED');
  assert.deepEqual(calls, [['nft', '-c', '-f', '-']]);
});
