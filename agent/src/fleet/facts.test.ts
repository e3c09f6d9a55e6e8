import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { probeHost } from './facts.ts';
import { planHost, sha256Hex } from './plan.ts';
import type { ExecOptions, ExecResult, RemoteHost } from './types.ts';

/** A stand-in RemoteHost running the real /bin/sh here (the SSH edge's own twin is its part). */
function localShell(): RemoteHost & { commands: string[] } {
  const commands: string[] = [];
  return {
    commands,
    async exec(cmd: string, opts?: ExecOptions): Promise<ExecResult> {
      commands.push(cmd);
      const r = spawnSync('/bin/sh', ['-c', cmd], { input: opts?.stdin ?? '', encoding: 'utf8', timeout: opts?.timeoutMs ?? 10_000 });
      return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
    },
    async upload(): Promise<void> {
      throw new Error('not used');
    },
    async close(): Promise<void> {},
  };
}

test('one exec gathers platform, installed version, package and config hashes; the plan follows', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-fleet-facts-'));
  try {
    const put = (p: string, text: string): void => {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    };
    put('/usr/local/opnsense/version/core', '{"product_name":"OPNsense","product_version":"25.7.6_2"}');
    const config = '{\n  "log": {\n    "level": "info"\n  }\n}\n';
    put('/usr/local/etc/conegate/conegate.json', config);
    put('/var/db/conegate/fleet-state.json', JSON.stringify({ version: '0.1.0', packageHash: 'c'.repeat(64) }));
    const remote = localShell();
    const probe = await probeHost(remote, 10_000, root);
    assert.deepEqual(remote.commands, ['/bin/sh -s'], 'one one-line command, the script on stdin');
    assert.deepEqual(probe.facts, { platform: 'opnsense', version: '0.1.0', packageHash: 'c'.repeat(64), configHash: sha256Hex(config) });
    assert.equal(probe.currentConfig, config);
    const host = { name: 'fw1', address: 'fw1', port: 22, user: 'root', vars: {}, groups: ['all'] };
    const target = { version: '0.1.0', packageFile: 'p.pkg', packageHash: 'c'.repeat(64), config };
    assert.equal(planHost(host, probe.facts, target, probe.currentConfig).action, 'unchanged');
    const next = planHost(host, probe.facts, { ...target, version: '0.2.0', config: config.replace('info', 'debug') }, probe.currentConfig);
    assert.equal(next.action, 'upgrade');
    assert.match(next.configDiff, /-    "level": "info"\n\+    "level": "debug"/);
    put('/var/db/conegate/fleet-state.json', 'garbage');
    assert.deepEqual((await probeHost(remote, 10_000, root)).facts, { platform: 'opnsense', configHash: sha256Hex(config) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a host with no markers is unknown; a failing shell is CG_COMMAND_FAILED', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'cg-fleet-facts-'));
  try {
    assert.deepEqual((await probeHost(localShell(), 10_000, empty)).facts, { platform: 'unknown' });
    const failing: RemoteHost = { ...localShell(), exec: async () => ({ code: 127, stdout: '', stderr: 'sh: not found' }) };
    await assert.rejects(probeHost(failing, 10_000), (e: unknown) => (e as { code?: string }).code === 'CG_COMMAND_FAILED');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
