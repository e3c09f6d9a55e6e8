// The fleet's SSH edge (issue #20) against real OpenSSH servers in lab namespaces: router a's root
// logs in with /bin/sh, router b's with tcsh (like OPNsense's root). The controller is this process;
// its connections enter the lab at the internet server s1 (labDial).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, createWriteStream, openSync, readSync, type WriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isConegateError } from '../../agent/src/errors.ts';
import { probeHost } from '../../agent/src/fleet/facts.ts';
import { remoteHostCompliance } from '../../agent/src/fleet/remote-host-compliance.ts';
import { connectSsh, type SshOptions } from '../../agent/src/fleet/ssh-remote.ts';
import type { HostTrust, RemoteHost } from '../../agent/src/fleet/types.ts';
import { createLab, type Lab } from './lab.ts';
import { knownHostsFor, labDial, makeClientKey, requireSshPeers, startSshd, type SshdHost } from './sshd.ts';

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sshKeygenFingerprint = (pubLine: string, dir: string): string => {
  const f = join(dir, `fp-${randomBytes(4).toString('hex')}.pub`);
  writeFileSync(f, `${pubLine}\n`);
  return execFileSync('ssh-keygen', ['-lf', f], { encoding: 'utf8' }).split(' ')[1]!;
};

const tempsIn = (dir: string) => readdirSync(dir).filter((f) => f.includes('.cg-'));

describe('fleet SSH edge against real sshd', () => {
  let lab: Lab;
  let sh: SshdHost;
  let csh: SshdHost;
  let keyFile: string;
  let work: string;
  let opts: SshOptions;
  const open: RemoteHost[] = [];
  const writers: WriteStream[] = []; // FIFO writers: ended in after() too, so a failed test cannot hang the file
  const fifos: string[] = [];
  /** A FIFO writer: its EPIPE when the upload let go of the FIFO is expected. */
  const fifoWriter = (fifo: string) => {
    const w = createWriteStream(fifo);
    w.on('error', () => undefined);
    writers.push(w);
    fifos.push(fifo);
    return w;
  };
  const pinned = (h: SshdHost): HostTrust => ({ pinnedKey: h.hostKeys.ed25519!, acceptNew: false });
  const connect = async (h: SshdHost, trust: HostTrust = pinned(h), o: SshOptions = {}) => {
    const r = await connectSsh(h.fleetHost(keyFile), trust, { ...opts, ...o });
    open.push(r);
    return r;
  };

  before(async () => {
    requireSshPeers();
    lab = await createLab({ sites: [{ name: 'a', nat: 'full-cone' }, { name: 'b', nat: 'full-cone' }], servers: ['s1'] });
    work = join(lab.workDir, 'controller');
    ({ keyFile } = await makeClientKey(work));
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    sh = await startSshd(lab, 'a.router', pub, { shell: 'sh' });
    csh = await startSshd(lab, 'b.router', pub, { shell: 'tcsh' });
    opts = { dial: labDial(lab, 's1'), connectTimeoutMs: 10_000 };
  });

  after(async () => {
    for (const w of writers) w.destroy();
    // A write still blocked on a FIFO nobody reads would keep this process from exiting: read it dry.
    for (const fifo of fifos) drainFifo(fifo);
    await Promise.all(open.map((r) => r.close()));
    await lab?.destroy();
  });

  remoteHostCompliance('sshd, sh login shell', async () => ({ host: await connect(sh), dir: sh.root }));
  remoteHostCompliance('sshd, tcsh login shell', async () => ({ host: await connect(csh), dir: csh.root }));

  for (const which of ['sh', 'tcsh'] as const) {
    it(`runs one-line commands and /bin/sh -s scripts with a ${which} login shell`, async () => {
      const h = which === 'sh' ? sh : csh;
      const r = await connect(h);
      // What the exec channel gets: the login shell with -c CMD, no PTY.
      const shell = await r.exec('echo $SHELL; tty', { timeoutMs: 10_000 });
      assert.equal(shell.stdout.split('\n')[0], which === 'sh' ? '/bin/sh' : '/usr/bin/tcsh');
      assert.match(shell.stdout, /not a tty/);
      const script = 'set -eu\nx=$(printf "%s" "a b")\necho "out:$x"\necho "err:$x" >&2\nexit 7\n';
      const s = await r.exec('/bin/sh -s', { stdin: script, timeoutMs: 10_000 });
      assert.deepEqual(s, { code: 7, stdout: 'out:a b\n', stderr: 'err:a b\n' });
      const killed = await r.exec('/bin/sh -s', { stdin: 'kill -TERM $$\n', timeoutMs: 10_000 });
      assert.equal(killed.code, 128 + 15);
      await assert.rejects(r.exec('echo a\necho b', { timeoutMs: 1000 }), { code: 'CG_INPUT_INVALID' });
    });
  }

  it('a command over its time limit is CG_TIMEOUT and the session stays usable', async () => {
    const r = await connect(csh);
    await assert.rejects(r.exec('sleep 20', { timeoutMs: 300 }), { code: 'CG_TIMEOUT' });
    assert.equal((await r.exec('echo ok', { timeoutMs: 10_000 })).stdout, 'ok\n');
  });

  it('known_hosts: plain, hashed, another key type, unknown, accept-new recorded 0600', async () => {
    const plain = join(work, 'kh-plain');
    writeFileSync(plain, knownHostsFor([sh], 'rsa'));
    const viaRsa = await connect(sh, { knownHostsFile: plain, acceptNew: false });
    assert.equal(viaRsa.hostKey.source, 'known_hosts');
    assert.equal(viaRsa.hostKey.keyType, 'ssh-rsa'); // the known type was asked for first
    const hashed = join(work, 'kh-hashed');
    writeFileSync(hashed, knownHostsFor([sh, csh], 'ecdsa'));
    execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
    rmSync(`${hashed}.old`);
    assert.match(readFileSync(hashed, 'utf8'), /^\|1\|/);
    assert.equal((await connect(csh, { knownHostsFile: hashed, acceptNew: false })).hostKey.keyType, 'ecdsa-sha2-nistp256');

    const fresh = join(work, 'kh-new');
    await assert.rejects(connect(sh, { knownHostsFile: fresh, acceptNew: false }), (e) => isConegateError(e) && e.code === 'CG_HOST_KEY_UNKNOWN');
    assert.equal(existsSync(fresh), false);
    const n = await connect(sh, { knownHostsFile: fresh, acceptNew: true });
    assert.equal(n.hostKey.source, 'new');
    assert.equal(n.hostKey.recordedIn, fresh);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    assert.equal(n.hostKey.fingerprint, sshKeygenFingerprint(sh.hostKeys.ed25519!, work));
    const again = await connect(sh, { knownHostsFile: fresh, acceptNew: false });
    assert.equal(again.hostKey.source, 'known_hosts');
    assert.equal(readFileSync(fresh, 'utf8').trim().split('\n').length, 1);
  });

  it('a wrong client key is CG_AUTH_FAILED', async () => {
    const other = await makeClientKey(join(work, 'stranger'));
    await assert.rejects(connectSsh({ ...sh.fleetHost(other.keyFile) }, pinned(sh), opts), { code: 'CG_AUTH_FAILED' });
  });

  it('uploads a few MB, verified and renamed, 0600 until chmod; sh and tcsh hosts', async () => {
    const data = randomBytes(4 << 20);
    for (const h of [sh, csh]) {
      const r = await connect(h);
      const dir = join(h.root, 'usr/local/etc/conegate');
      mkdirSync(dir, { recursive: true });
      await r.upload(data, join(dir, 'conegate.pkg'), 0o640);
      assert.ok(readFileSync(join(dir, 'conegate.pkg')).equals(data));
      assert.equal(statSync(join(dir, 'conegate.pkg')).mode & 0o777, 0o640);
      assert.deepEqual(tempsIn(dir), []);
      await assert.rejects(r.upload(data, join(h.root, 'no/such/dir/x'), 0o600), { code: 'CG_COMMAND_FAILED' });
      await assert.rejects(r.upload(data, `${dir}/a b`, 0o600), { code: 'CG_INPUT_INVALID' });
    }
  });

  it('a session killed mid-upload leaves no file at the target and no temp (removed over a new connection)', async () => {
    const r = await connect(sh);
    const dir = join(sh.root, 'drop1');
    mkdirSync(dir, { recursive: true });
    const fifo = join(work, 'fifo1');
    execFileSync('mkfifo', [fifo]);
    const up = r.upload(fifo, join(dir, 'pkg'), 0o644);
    const w = fifoWriter(fifo);
    w.write(randomBytes(1 << 20));
    await waitFor(() => tempsIn(dir).length === 1 && statSync(join(dir, tempsIn(dir)[0]!)).size > 0, 'the temp file to fill');
    for (const pid of sh.sessionPids()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* exited with its parent */ }
    }
    const err = await up.then(() => undefined, (e: unknown) => e);
    w.end();
    assert.ok(isConegateError(err) && err.code === 'CG_CONNECTION_LOST', String(err));
    assert.equal(err.context.tempRemoved, true);
    assert.equal(existsSync(join(dir, 'pkg')), false);
    assert.deepEqual(tempsIn(dir), []);
  });

  it('a connection cut by the network mid-upload never leaves a partial target; the next upload sweeps the temp', async () => {
    const r = await connect(csh, pinned(csh), { keepaliveIntervalMs: 300, uploadTimeoutMs: 4000, connectTimeoutMs: 2000 });
    const dir = join(csh.root, 'drop2');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pkg'), 'previous version');
    const fifo = join(work, 'fifo2');
    execFileSync('mkfifo', [fifo]);
    const up = r.upload(fifo, join(dir, 'pkg'), 0o644);
    const w = fifoWriter(fifo);
    w.write(randomBytes(1 << 20));
    await waitFor(() => tempsIn(dir).length === 1 && statSync(join(dir, tempsIn(dir)[0]!)).size > 0, 'the temp file to fill');
    try {
      await lab.nftApply('b.router', 'table inet fleetcut {\n chain in { type filter hook input priority -10; tcp dport 22 drop; }\n chain out { type filter hook output priority -10; tcp sport 22 drop; }\n}\n');
    } finally {
      w.end(randomBytes(1 << 20));
    }
    const err = await up.then(() => undefined, (e: unknown) => e);
    assert.ok(isConegateError(err) && (err.code === 'CG_CONNECTION_LOST' || err.code === 'CG_TIMEOUT'), String(err));
    assert.equal(err.context.tempRemoved, false); // nothing could reach the host to clean up
    assert.equal(readFileSync(join(dir, 'pkg'), 'utf8'), 'previous version');
    await lab.exec('b.router', ['nft', 'delete', 'table', 'inet', 'fleetcut'], { check: true });
    const r2 = await connect(csh);
    await r2.upload(Buffer.from('new version'), join(dir, 'pkg'), 0o644);
    assert.equal(readFileSync(join(dir, 'pkg'), 'utf8'), 'new version');
    await waitFor(() => tempsIn(dir).length === 0, 'the stale temp to go (the cut session\'s cat may still hold it)');
  });

  it('the planner\'s probe runs over the tcsh host and reads its fake OPNsense root', async () => {
    const root = join(csh.root, 'opn');
    mkdirSync(join(root, 'usr/local/opnsense/version'), { recursive: true });
    writeFileSync(join(root, 'usr/local/opnsense/version/core'), '{"product_name":"OPNsense","product_version":"25.7.6_2"}');
    const probe = await probeHost(await connect(csh), 10_000, root);
    assert.equal(probe.facts.platform, 'opnsense');
  });

  it('a changed host key is refused with both fingerprints', async () => {
    const before = sh.hostKeys.ed25519!;
    const kh = join(work, 'kh-changed');
    writeFileSync(kh, knownHostsFor([sh], 'ed25519'));
    await sh.restart({ newKeys: true });
    const err = await connectSsh(sh.fleetHost(keyFile), { knownHostsFile: kh, acceptNew: true }, opts).then(() => undefined, (e: unknown) => e);
    assert.ok(isConegateError(err) && err.code === 'CG_HOST_KEY_CHANGED', String(err));
    assert.ok(err.message.includes(sshKeygenFingerprint(before, work)), err.message);
    assert.ok(err.message.includes(sshKeygenFingerprint(sh.hostKeys.ed25519!, work)), err.message);
    await assert.rejects(connectSsh(sh.fleetHost(keyFile), { pinnedKey: before, acceptNew: false }, opts), { code: 'CG_HOST_KEY_CHANGED' });
  });
});

/** Reads a FIFO without blocking until its writers are gone (EOF) or 2 s passed. */
function drainFifo(fifo: string): void {
  let fd: number;
  try {
    fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch {
    return;
  }
  const buf = Buffer.alloc(1 << 16);
  const end = Date.now() + 2000;
  try {
    while (Date.now() < end) {
      try {
        if (readSync(fd, buf) === 0) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') break;
      }
    }
  } finally {
    closeSync(fd);
  }
}
