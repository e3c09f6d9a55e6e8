/** The lazy command table: what --help shows must be what the loaded command says. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from './index.ts';
import { buildProgram, invokedEntry } from '../main.ts';

test('each entry names, aliases and describes its command exactly as the loaded Command does', async () => {
  const names = new Set<string>();
  for (const entry of COMMANDS) {
    const cmd = await entry.load();
    assert.equal(cmd.name(), entry.name);
    assert.deepEqual(cmd.aliases(), entry.aliases, `${entry.name}: aliases`);
    assert.equal(cmd.description(), entry.description, `${entry.name}: description`);
    for (const n of [entry.name, ...entry.aliases]) {
      assert.ok(!names.has(n), `${n} is registered twice`);
      names.add(n);
    }
  }
});

const argv = (...args: string[]) => ['node', 'conegate', ...args];

test('invokedEntry finds the command after global options, by alias, and after help', async () => {
  const program = await buildProgram();
  const name = (...args: string[]) => invokedEntry(program, argv(...args))?.name;
  assert.equal(name('pmp', 'serve', '--json'), 'pmp');
  assert.equal(name('--log-level', 'debug', 'wg', 'up'), 'wg');
  assert.equal(name('--log-level=debug', 'stun', 'probe'), 'stun');
  assert.equal(name('nat', 'status'), 'pf');
  assert.equal(name('help', 'portmap'), 'portmap');
  assert.equal(name('--help'), undefined);
  assert.equal(name('-V'), undefined);
  assert.equal(name(), undefined);
  assert.equal(name('no-such-command'), undefined);
  assert.equal(name('--', 'pmp'), undefined);
});

test('buildProgram loads only the invoked command; the rest are name-and-description stubs', async () => {
  const loaded = (p: Awaited<ReturnType<typeof buildProgram>>) => p.commands.filter((c) => c.commands.length > 0 || c.options.length > 0).map((c) => c.name());
  assert.deepEqual(loaded(await buildProgram(argv('--help'))), []);
  assert.deepEqual(loaded(await buildProgram(argv('--log-level', 'warn', 'pmp', 'list'))), ['pmp']);
  const help = await buildProgram(argv('--help'));
  assert.deepEqual(help.commands.map((c) => c.name()), COMMANDS.map((e) => e.name));
});
