// "Commit confirmed" across a reboot (issue #20) on a fake root over real sshd (tcsh login shell): a
// change applied and armed, then its timer killed by PID (what a reboot does to it), is reverted by
// the packaged boot check (agent/init/conegate-fleet-boot-check, run as the rc.d prestart runs it) to
// exactly the previous files; a second boot does nothing. An orphaned lock is resolved by the next
// rollout: the old change is reverted, the new one applied.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyScript, TXN_EXIT, type TxnPlan } from '../../agent/src/fleet/device-txn.ts';
import { connectSsh } from '../../agent/src/fleet/ssh-remote.ts';
import { killTxnTimer } from '../../agent/src/fleet/rollout/twin-fleet.ts';
import { createLab, type Lab } from './lab.ts';
import { labDial, makeClientKey, requireSshPeers, startSshd, type SshdHost } from './sshd.ts';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const BOOT_CHECK = join(import.meta.dirname, '../../agent/init/conegate-fleet-boot-check');

describe('fleet boot check over real sshd', () => {
  let lab: Lab;
  let h: SshdHost;
  let keyFile: string;
  const timers: number[] = [];

  before(async () => {
    requireSshPeers();
    lab = await createLab({ sites: [{ name: 'a', nat: 'full-cone' }], servers: ['s1'] });
    ({ keyFile } = await makeClientKey(join(lab.workDir, 'controller')));
    h = await startSshd(lab, 'a.router', readFileSync(`${keyFile}.pub`, 'utf8').trim(), { shell: 'tcsh', keyTypes: ['ed25519'] });
  });
  after(async () => {
    for (const p of timers) { try { process.kill(-p, 'SIGKILL'); } catch { /* gone */ } }
    await lab?.destroy();
  });

  const connect = () => connectSsh(h.fleetHost(keyFile), { pinnedKey: h.hostKeys.ed25519!, acceptNew: false }, { dial: labDial(lab, 's1') });

  function setup(tag: string) {
    const R = join(h.root, tag);
    const bin = join(R, 'usr/local/bin/conegate');
    const cfg = join(R, 'usr/local/etc/conegate/conegate.json');
    mkdirSync(join(R, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(R, 'usr/local/etc/conegate'), { recursive: true });
    mkdirSync(join(R, 'usr/local/libexec'), { recursive: true });
    copyFileSync(BOOT_CHECK, join(R, 'usr/local/libexec/conegate-fleet-boot-check'));
    writeFileSync(bin, '#!/bin/sh\necho v1\n', { mode: 0o755 });
    writeFileSync(cfg, '{"version":1}', { mode: 0o600 });
    const plan: TxnPlan = {
      stateDir: join(R, 'var/db/conegate-fleet'),
      files: [bin, cfg].map((target) => ({ target, staged: `${target}.cg-staged` })),
      stopCommand: `echo stop >> ${R}/svc.log`,
      startCommand: `echo start >> ${R}/svc.log`,
      revertAfterSec: 600,
      owner: 'run-1',
    };
    return { R, bin, cfg, plan, before: { bin: sha(bin), cfg: sha(cfg) } };
  }

  async function stageAndApply(s: ReturnType<typeof setup>, version: number, owner = 'run-1') {
    const r = await connect();
    await r.upload(Buffer.from(`#!/bin/sh\necho v${version}\n`), s.plan.files[0]!.staged, 0o755);
    await r.upload(Buffer.from(`{"version":${version}}`), s.plan.files[1]!.staged, 0o600);
    const res = await r.exec('/bin/sh -s', { stdin: applyScript({ ...s.plan, owner }), timeoutMs: 20_000 });
    if (res.code === TXN_EXIT.ok) timers.push(Number(readFileSync(join(s.plan.stateDir, 'timer.pid'), 'utf8')));
    await r.close();
    return res;
  }

  it('apply, kill the timer (the reboot), run the boot check: the previous files are back, the lock is gone; a second boot does nothing', async () => {
    const s = setup('b1');
    const res = await stageAndApply(s, 2);
    assert.equal(res.code, TXN_EXIT.ok, res.stderr);
    assert.equal(readFileSync(s.cfg, 'utf8'), '{"version":2}');
    await killTxnTimer(s.plan.stateDir);
    const c = await connect();
    const check = `/bin/sh ${join(s.R, 'usr/local/libexec/conegate-fleet-boot-check')} ${s.plan.stateDir}`;
    const boot = await c.exec(check, { timeoutMs: 20_000 });
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stdout, /reverted the change of run-1 \(its revert timer is gone, never confirmed\): ok/);
    assert.equal(sha(s.bin), s.before.bin);
    assert.equal(sha(s.cfg), s.before.cfg);
    assert.equal(existsSync(join(s.plan.stateDir, 'lock')), false);
    assert.equal(readFileSync(join(s.R, 'svc.log'), 'utf8'), 'stop\nstart\n', 'the boot check leaves the service to the boot path');
    const again = await c.exec(check, { timeoutMs: 20_000 });
    assert.equal(again.code, 0);
    assert.equal(again.stdout, '');
    await c.close();
  });

  it('an orphaned lock is resolved by the next rollout over SSH', async () => {
    const s = setup('b2');
    assert.equal((await stageAndApply(s, 2)).code, TXN_EXIT.ok);
    await killTxnTimer(s.plan.stateDir);
    const next = await stageAndApply(s, 3, 'run-2');
    assert.equal(next.code, TXN_EXIT.ok, next.stderr);
    assert.match(next.stderr, /reverted the change of run-1/);
    assert.equal(readFileSync(s.cfg, 'utf8'), '{"version":3}');
    assert.equal(readFileSync(join(s.plan.stateDir, 'lock/owner'), 'utf8').trim(), 'run-2');
  });
});
