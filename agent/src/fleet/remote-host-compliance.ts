/**
 * One compliance suite for every RemoteHost: the local twin (ssh-twin.test.ts) and the ssh2 edge
 * against real sshd (test/lab/fleet-ssh.test.ts). `open` gives a connected host and a directory on it
 * that the suite may write (a path the test process can also read: the twin's root, the lab's ROOT).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { RemoteHost } from './types.ts';

export interface ComplianceTarget {
  host: RemoteHost;
  /** A writable directory on the host, also readable here. */
  dir: string;
}

export function remoteHostCompliance(label: string, open: () => Promise<ComplianceTarget>): void {
  const T = { timeoutMs: 10_000 };
  it(`${label}: one-line commands, exit codes, output`, async () => {
    const { host } = await open();
    assert.deepEqual(await host.exec('echo hi', T), { code: 0, stdout: 'hi\n', stderr: '' });
    assert.equal((await host.exec('false', T)).code, 1);
    await assert.rejects(host.exec('echo a\necho b', T), { code: 'CG_INPUT_INVALID' });
  });

  it(`${label}: scripts on stdin of /bin/sh -s; a signal is 128 + its number`, async () => {
    const { host } = await open();
    const s = await host.exec('/bin/sh -s', { stdin: 'x=$(printf "%s" "a b")\necho "o:$x"\necho "e:$x" >&2\nexit 7\n', timeoutMs: 10_000 });
    assert.deepEqual(s, { code: 7, stdout: 'o:a b\n', stderr: 'e:a b\n' });
    assert.equal((await host.exec('/bin/sh -s', { stdin: 'kill -TERM $$\n', timeoutMs: 10_000 })).code, 143);
  });

  it(`${label}: a command over its limit is CG_TIMEOUT`, async () => {
    const { host } = await open();
    await assert.rejects(host.exec('sleep 20', { timeoutMs: 200 }), { code: 'CG_TIMEOUT' });
    assert.equal((await host.exec('echo ok', T)).stdout, 'ok\n');
  });

  it(`${label}: upload is verified, renamed into place with its mode, leaves no temp`, async () => {
    const { host, dir } = await open();
    const sub = join(dir, `up-${randomBytes(3).toString('hex')}`);
    mkdirSync(sub, { recursive: true });
    const data = randomBytes(256 << 10);
    await host.upload(data, join(sub, 'f.bin'), 0o600);
    await host.upload(data.subarray(1000), join(sub, 'f.bin'), 0o644); // replaces in place
    assert.ok(readFileSync(join(sub, 'f.bin')).equals(data.subarray(1000)));
    assert.equal(statSync(join(sub, 'f.bin')).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(sub), ['f.bin']);
    await assert.rejects(host.upload(data, join(sub, 'missing/f'), 0o600), { code: 'CG_COMMAND_FAILED' });
    await assert.rejects(host.upload(data, 'relative/f', 0o600), { code: 'CG_INPUT_INVALID' });
    await assert.rejects(host.upload(data, join(sub, 'x;rm'), 0o600), { code: 'CG_INPUT_INVALID' });
    await assert.rejects(host.upload(data, join(sub, 'g'), 0o10000), { code: 'CG_INPUT_INVALID' });
    await assert.rejects(host.upload(join(sub, 'no-such-local-file'), join(sub, 'g'), 0o600), { code: 'CG_CONFIG_UNREADABLE' });
    assert.deepEqual(readdirSync(sub), ['f.bin']);
  });
}
