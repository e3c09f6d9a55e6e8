/**
 * The commands netcheck's fixes print, run exactly as printed in a lab namespace against a temporary
 * config (CONEGATE_CONFIG; the only keys set are the state directory, an immediate health check so
 * apply confirms at once, and, for the fix that says to set it, nat.wan). The nftables apply loads
 * our table in the namespace only. `pf apply` (needs pfctl) and `portmap map` (runs until stopped,
 * needs an upstream gateway) are only parsed, in agent/src/netcheck/verdict.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, type Lab } from './lab.ts';
import { requirePeers } from './require-peers.ts';
import { buildProgram } from '../../agent/src/cli/main.ts';
import { allFixes, commandsIn } from '../../agent/src/netcheck/fix-commands.ts';

const CLI = new URL('../../bin/conegate.js', import.meta.url).pathname;
const NAMES = (await buildProgram([], { loadAll: true })).commands.flatMap((c) => [c.name(), ...c.aliases()]);
const PARSED_ONLY = ['pf', 'portmap'];
let lab: Lab;
let dir: string;
let wan: string;

before(async () => {
  requirePeers({ nft: 'nftables' });
  lab = await createLab({ servers: ['s1'] });
  dir = mkdtempSync(join(tmpdir(), 'cg-fixes-lab-'));
  const addrs = await lab.exec('s1', ['ip', '-o', '-4', 'addr', 'show'], { check: true });
  const line = addrs.stdout.split('\n').find((l) => l.includes(` ${lab.addr('s1')}/`));
  wan = line!.split(/\s+/)[1]!;
});

after(async () => {
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('every runnable fix command works as printed (exit 0) against a temporary config', async () => {
  const commands = [...allFixes({ wan, meshPort: 41641 }), ...allFixes({})].flatMap((f) => commandsIn(f, NAMES));
  const runnable = [...new Set(commands.map((c) => c.join(' ')))].filter((c) => !PARSED_ONLY.includes(c.split(' ')[0]!));
  assert.ok(runnable.includes(`nat apply --backend nftables --wan ${wan}`), runnable.join(' | '));
  assert.ok(runnable.includes('nat apply --backend nftables'));
  let n = 0;
  for (const c of runnable) {
    const config = join(dir, `c${n}.json`);
    const state = join(dir, `state${n++}`);
    // The fix without --wan says to set nat.wan first; the others run with the config as it is.
    writeFileSync(config, JSON.stringify({ stateDir: state, nat: { healthCommand: 'true', ...(c.includes('--wan') ? {} : { wan: [wan] }) } }));
    await lab.exec('s1', ['nft', 'delete', 'table', 'ip', 'conegate']).catch(() => undefined);
    const r = await lab.execNode('s1', CLI, c.split(' '), { env: { CONEGATE_CONFIG: config }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `conegate ${c}: ${r.stderr}`);
    if (c.startsWith('nat apply')) {
      const t = await lab.exec('s1', ['nft', 'list', 'table', 'ip', 'conegate'], { check: true });
      assert.match(t.stdout, new RegExp(`oifname "${wan}"`));
    }
  }
});
