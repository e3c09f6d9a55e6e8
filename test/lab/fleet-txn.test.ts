// The device-side transaction (issue #20) on a fake Linux root over real sshd (tcsh login shell, so
// the scripts prove they need only /bin/sh -s): the confirm-or-revert timer survives the end of the
// SSH session and restores exactly the previous files; a confirm over a new connection disarms it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyScript, confirmScript, TXN_EXIT, type TxnPlan } from '../../agent/src/fleet/device-txn.ts';
import { connectSsh } from '../../agent/src/fleet/ssh-remote.ts';
import { createLab, type Lab } from './lab.ts';
import { labDial, makeClientKey, requireSshPeers, startSshd, type SshdHost } from './sshd.ts';

async function waitFor(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('device-side confirm-or-revert transaction over real sshd', () => {
  let lab: Lab;
  let h: SshdHost;
  let keyFile: string;
  const REVERT_SEC = 2;

  before(async () => {
    requireSshPeers();
    lab = await createLab({ sites: [{ name: 'a', nat: 'full-cone' }], servers: ['s1'] });
    ({ keyFile } = await makeClientKey(join(lab.workDir, 'controller')));
    h = await startSshd(lab, 'a.router', readFileSync(`${keyFile}.pub`, 'utf8').trim(), { shell: 'tcsh', keyTypes: ['ed25519'] });
  });
  after(async () => { await lab?.destroy(); });

  const connect = () => connectSsh(h.fleetHost(keyFile), { pinnedKey: h.hostKeys.ed25519!, acceptNew: false }, { dial: labDial(lab, 's1') });

  function setup(tag: string) {
    const R = join(h.root, tag);
    const bin = join(R, 'usr/local/bin/conegate');
    const cfg = join(R, 'usr/local/etc/conegate/conegate.json');
    const extra = join(R, 'usr/local/etc/conegate/extra.json');
    mkdirSync(join(R, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(R, 'usr/local/etc/conegate'), { recursive: true });
    writeFileSync(bin, '#!/bin/sh\necho v1\n', { mode: 0o755 });
    writeFileSync(cfg, '{"version":1}', { mode: 0o600 });
    const plan: TxnPlan = {
      stateDir: join(R, 'var/db/conegate-fleet'),
      files: [bin, cfg, extra].map((target) => ({ target, staged: `${target}.cg-staged` })),
      stopCommand: `echo stop >> ${R}/svc.log`,
      startCommand: `echo start >> ${R}/svc.log`,
      revertAfterSec: REVERT_SEC,
    };
    return { R, bin, cfg, extra, plan, before: { bin: sha(bin), cfg: sha(cfg) } };
  }

  async function stageAndApply(s: ReturnType<typeof setup>) {
    const r = await connect();
    await r.upload(Buffer.from('#!/bin/sh\necho v2\n'), s.plan.files[0]!.staged, 0o755);
    await r.upload(Buffer.from('{"version":2}'), s.plan.files[1]!.staged, 0o600);
    await r.upload(Buffer.from('{}'), s.plan.files[2]!.staged, 0o600);
    const res = await r.exec('/bin/sh -s', { stdin: applyScript(s.plan), timeoutMs: 20_000 });
    return { r, res };
  }

  it('the timer outlives the SSH session and restores exactly the previous files', async () => {
    const s = setup('t1');
    const { r, res } = await stageAndApply(s);
    assert.equal(res.code, TXN_EXIT.ok, res.stderr);
    assert.equal(readFileSync(s.cfg, 'utf8'), '{"version":2}');
    assert.ok(existsSync(s.extra));
    // The controller goes away without confirming: its session ends hard.
    for (const pid of h.sessionPids()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await r.close();
    // The acceptance bound: back on the previous version within the timer + 10 s.
    await waitFor(() => existsSync(join(s.plan.stateDir, 'reverted')), 'the revert', (REVERT_SEC + 10) * 1000);
    assert.equal(readFileSync(join(s.plan.stateDir, 'reverted'), 'utf8'), 'ok\n');
    assert.equal(sha(s.bin), s.before.bin);
    assert.equal(sha(s.cfg), s.before.cfg);
    assert.equal(statSync(s.cfg).mode & 0o777, 0o600);
    assert.equal(statSync(s.bin).mode & 0o777, 0o755);
    assert.equal(existsSync(s.extra), false);
    assert.equal(readFileSync(join(s.R, 'svc.log'), 'utf8'), 'stop\nstart\nstop\nstart\n');
    assert.equal(existsSync(join(s.plan.stateDir, 'lock')), false);
  });

  it('a confirm over a new connection disarms the timer; a second transaction meanwhile is refused', async () => {
    const s = setup('t2');
    const { r, res } = await stageAndApply(s);
    assert.equal(res.code, TXN_EXIT.ok, res.stderr);
    const timerPid = Number(readFileSync(join(s.plan.stateDir, 'timer.pid'), 'utf8'));
    assert.ok(alive(timerPid));
    const busy = await r.exec('/bin/sh -s', { stdin: applyScript(s.plan), timeoutMs: 20_000 });
    assert.equal(busy.code, TXN_EXIT.busy);
    await r.close();
    const c = await connect();
    const conf = await c.exec('/bin/sh -s', { stdin: confirmScript(s.plan.stateDir), timeoutMs: 20_000 });
    assert.equal(conf.code, 0, conf.stderr);
    await waitFor(() => !alive(timerPid), 'the timer to end', 5000);
    assert.equal(readFileSync(s.cfg, 'utf8'), '{"version":2}');
    assert.equal(existsSync(join(s.plan.stateDir, 'reverted')), false);
    assert.equal((await c.exec('/bin/sh -s', { stdin: confirmScript(s.plan.stateDir), timeoutMs: 20_000 })).code, 3);
    await c.close();
  });
});
