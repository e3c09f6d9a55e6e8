/**
 * The service files parse: the systemd unit with `systemd-analyze verify` (its ExecStart pointed at
 * this checkout's bin/conegate.js, since verify insists the binary exists), the rc.d script with `sh -n`
 * plus the rc.subr variables FreeBSD needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requirePeers } from '../../test/lab/require-peers.ts';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/conegate.js', import.meta.url));

test('systemd unit verifies', async () => {
  requirePeers({ 'systemd-analyze': 'systemd' });
  const unit = await readFile(join(here, 'conegate.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/conegate up --foreground$/m);
  assert.match(unit, /^ExecStartPre=-\+\/bin\/sh \/opt\/conegate\/current\/conegate-fleet-boot-check \/var\/lib\/conegate-fleet$/m);
  const dir = await mkdtemp(join(tmpdir(), 'cg-unit-'));
  try {
    const path = join(dir, 'conegate.service');
    await writeFile(path, unit.replace('/usr/bin/conegate', bin));
    const r = await run('systemd-analyze', ['verify', '--man=no', path]).catch((e: { stderr: string; code: number }) => e);
    const stderr = String((r as { stderr?: string }).stderr ?? '');
    // verify also reports unrelated units of the host (their own warnings); only ours must be clean.
    const ours = stderr.split('\n').filter((l) => l.includes('conegate.service'));
    assert.deepEqual(ours, [], stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rc.d script parses and declares what rc.subr needs', async () => {
  const path = join(here, 'conegate.rc');
  await run('sh', ['-n', path]);
  const text = await readFile(path, 'utf8');
  for (const re of [/^\t\/bin\/sh \/usr\/local\/libexec\/conegate-fleet-boot-check \/var\/db\/conegate-fleet \|\| true$/m, /^# PROVIDE: conegate$/m, /^# REQUIRE: /m, /^# KEYWORD: shutdown$/m, /^\. \/etc\/rc\.subr$/m, /^name="conegate"$/m, /^rcvar="conegate_enable"$/m, /^load_rc_config "\$name"$/m, /^run_rc_command "\$1"$/m, /up --foreground/]) {
    assert.match(text, re);
  }
});
