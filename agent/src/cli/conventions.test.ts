/**
 * Conventions every command follows (applied in main.ts, so new commands get them too): each takes
 * --config and refuses a bad one with exit 2; every numeric option goes through one strict parser
 * ('' is not 0, '1e3' and '0x10' are not numbers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { buildProgram, main } from './main.ts';

function leaves(c: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  if (c.commands.length === 0) return [{ path, cmd: c }];
  return c.commands.flatMap((s) => leaves(s, [...path, s.name()]));
}

/** Runs the CLI in-process; returns the exit status and what it wrote to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'conegate', ...args]), stderr };
  } finally {
    process.stderr.write = write;
    process.exitCode = undefined;
  }
}

test('every command takes --config', async () => {
  const missing = leaves(await buildProgram([], { loadAll: true })).filter((l) => !l.cmd.options.some((o) => o.long === '--config')).map((l) => l.path.join(' '));
  assert.deepEqual(missing, []);
});

test('every numeric option has a strict parser: an empty or non-decimal value is a usage error naming the option', async () => {
  const numeric = leaves(await buildProgram([], { loadAll: true })).flatMap((l) => l.cmd.options.filter((o) => /<(n|ms|s|sec|port|bytes|count)>$/.test(o.flags)).map((o) => ({ path: l.path, o })));
  assert.ok(numeric.length >= 10, `found ${numeric.length}`);
  for (const { path, o } of numeric) {
    assert.ok((o as Option & { parseArg?: unknown }).parseArg, `${path.join(' ')} ${o.long} has no parser`);
    for (const bad of ['', '1e3', '0x10', '-1', ' 5']) {
      const r = await cli([...path, o.long!, bad]);
      assert.equal(r.code, 2, `${path.join(' ')} ${o.long} '${bad}'`);
      assert.match(r.stderr, new RegExp(`option '${o.flags.replace(/[<>]/g, '.')}' argument`), `${path.join(' ')} ${o.long} '${bad}': ${r.stderr}`);
    }
  }
});

test('pf apply --confirm-sec \'\' is a usage error, not 0 = no grace period', async () => {
  const r = await cli(['pf', 'apply', '--confirm-sec', '']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--confirm-sec/);
});

test('--config on commands that read no section is still loaded: a bad file is exit 2, a good one runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-conv-'));
  try {
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, '{}');
    writeFileSync(bad, '{"nat": {"confirmSec": "soon"}}');
    const root = mkdtempSync(join(dir, 'root-'));
    assert.equal((await cli(['platform', '--root', root, '--config', bad])).code, 2);
    assert.equal((await cli(['platform', '--root', root, '--config', join(dir, 'missing.json')])).code, 2);
    assert.equal((await cli(['stun', 'serve', '--config', bad, '--listen', '127.0.0.1:0'])).code, 2);
    assert.equal((await cli(['keygen', '--config', bad])).code, 2);
    assert.equal((await cli(['pf', 'generate', '--config', bad, '--backend', 'nftables', '--wan', 'eth0'])).code, 2);
    // A copied tree with no markers is "unknown" (exit 1), but the config was accepted.
    assert.equal((await cli(['platform', '--root', root, '--config', good, '--json'])).code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
