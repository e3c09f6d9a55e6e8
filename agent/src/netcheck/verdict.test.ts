/**
 * Every `conegate ...` command a netcheck fix prints must work as printed: here each one is parsed by
 * the real CLI (with a temporary config) up to the point its action would run; test/lab/
 * netcheck-fixes.test.ts then runs those that can run on a Linux lab host to completion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../cli/main.ts';
import { allFixes, commandsIn } from './fix-commands.ts';
import { platformNatFix } from './verdict.ts';

const NAMES = (await buildProgram([], { loadAll: true })).commands.flatMap((c) => [c.name(), ...c.aliases()]);

/** Parses argv with the real program; resolves true if it reached an action (no usage error). */
async function reachesAction(argv: string[], config: string): Promise<{ ok: boolean; error?: string }> {
  const program = await buildProgram([], { loadAll: true });
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const STOP = Symbol('stop');
  program.hook('preAction', () => {
    throw STOP;
  });
  const saved = process.env.CONEGATE_CONFIG;
  process.env.CONEGATE_CONFIG = config;
  try {
    await program.parseAsync(['node', 'conegate', ...argv]);
    return { ok: argv.includes('--help') };
  } catch (e) {
    if (e === STOP) return { ok: true };
    const code = (e as { code?: string }).code;
    return code === 'commander.helpDisplayed' ? { ok: true } : { ok: false, error: String((e as Error).message ?? e) };
  } finally {
    if (saved === undefined) delete process.env.CONEGATE_CONFIG;
    else process.env.CONEGATE_CONFIG = saved;
  }
}

test('the fixes print commands, with no placeholders, and each one is accepted by the CLI as printed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-fixes-'));
  try {
    const config = join(dir, 'c.json');
    writeFileSync(config, JSON.stringify({ nat: { wan: ['eth0'] } }));
    const commands = [...allFixes({ wan: 'eth0', meshPort: 41641 }), ...allFixes({})].flatMap((f) => commandsIn(f, NAMES));
    const distinct = [...new Set(commands.map((c) => c.join(' ')))].sort();
    assert.deepEqual(distinct, [
      'nat apply --backend nftables',
      'nat apply --backend nftables --wan eth0',
      'pf apply',
      'portmap map --port 41641',
      'stun serve --help',
    ]);
    for (const c of distinct) {
      assert.doesNotMatch(c, /<|>|A1|P1|\bIF\b|ADDR/, `placeholder in ${c}`);
      const r = await reachesAction(c.split(' '), config);
      assert.ok(r.ok, `conegate ${c}: ${r.error}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the nftables fix names the WAN when netcheck knows it, else the config key that apply reads', () => {
  assert.match(platformNatFix('linux', { wan: 'eth0' })!, /conegate nat apply --backend nftables --wan eth0$/);
  assert.match(platformNatFix('unifi')!, /set nat\.wan .* then conegate nat apply --backend nftables$/);
  // A name that is not an interface name is never pasted into a command.
  assert.doesNotMatch(platformNatFix('linux', { wan: 'eth0; reboot' })!, /reboot/);
});
