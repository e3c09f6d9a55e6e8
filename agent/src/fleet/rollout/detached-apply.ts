/**
 * The apply runs on the host DETACHED from the SSH session: the script is written into the
 * transaction's state dir and started in its own session (setsid on Linux, daemon(8) on FreeBSD,
 * nohup as the last resort), and the controller polls for its exit status. So a session that is
 * itself carried by the mesh being upgraded (an admin reaching the router over its conegate address)
 * can drop when the agent restarts: the apply goes on, and the controller reconnects and reads how
 * it ended. Before, a dropped session cut the apply short and the change was reverted.
 *
 * Files (per run, so two runs never share them): STATE/apply-RUN.sh, .err (its stderr), .exit (its
 * exit status, written by rename so a poll never reads half of it). The controller removes them once
 * it has read the answer (a host refused as busy stays byte-identical); launching also removes any
 * older than a week that a lost controller left behind.
 */
import { ConegateError } from '../../errors.ts';
import { detachedShell } from '../device-txn.ts';
import { checkRemotePath, shQuote } from '../ssh-upload.ts';
import type { RemoteHost } from '../types.ts';

/** Script for `/bin/sh -s`: writes the apply script, starts it detached, prints "launched". */
export function launchScript(stateDir: string, runId: string, applyScript: string): string {
  const f = applyFile(stateDir, runId);
  // Paths are limited to plain characters (checkRemotePath), so the detached command needs no quoting
  // inside; the whole of it is quoted once for the outer sh.
  const wrapper = `sh ${f}.sh </dev/null >/dev/null 2>${f}.err; echo $? > ${f}.exit.tmp; mv -f ${f}.exit.tmp ${f}.exit`;
  if (applyScript.split('\n').includes('CONEGATE_APPLY')) throw new ConegateError('CG_INPUT_INVALID', 'the apply script contains its own here-document end marker');
  return [
    `S=${shQuote(stateDir)}`,
    'mkdir -p "$S" || exit 1',
    `find "$S" -maxdepth 1 -name 'apply-*' -mtime +7 -exec rm -f {} + 2>/dev/null`,
    `rm -f ${f}.exit ${f}.exit.tmp ${f}.err`,
    // Only the script file is private; the apply itself keeps the session's umask (what it installs
    // must get the modes it always got).
    `(umask 077; cat > ${f}.sh) <<'CONEGATE_APPLY'\n${applyScript.endsWith('\n') ? applyScript : `${applyScript}\n`}CONEGATE_APPLY`,
    `W=${shQuote(wrapper)}`,
    ...detachedShell('W'),
    'echo launched',
    '',
  ].join('\n');
}

/** Script for `/bin/sh -s`: "done CODE" and the apply's stderr, or "running", or "absent". */
export function pollScript(stateDir: string, runId: string): string {
  const f = applyFile(stateDir, runId);
  return [
    `if [ -f ${f}.exit ]; then printf 'done %s\\n' "$(cat ${f}.exit)"; cat ${f}.err 2>/dev/null; exit 0; fi`,
    `if [ -f ${f}.sh ]; then echo running; else echo absent; fi`,
    '',
  ].join('\n');
}

/** Script for `/bin/sh -s`: removes the run's apply files once their answer has been read. */
export function forgetScript(stateDir: string, runId: string): string {
  const f = applyFile(stateDir, runId);
  return `rm -f ${f}.sh ${f}.err ${f}.exit ${f}.exit.tmp\n`;
}

export type PollState = { state: 'done'; code: number; stderr: string } | { state: 'running' } | { state: 'absent' };

export function parsePoll(out: string): PollState {
  const m = /^done (\d{1,3})\n?([\s\S]*)$/.exec(out);
  if (m) return { state: 'done', code: Number(m[1]), stderr: m[2] ?? '' };
  if (out.trim() === 'running') return { state: 'running' };
  if (out.trim() === 'absent') return { state: 'absent' };
  throw new ConegateError('CG_COMMAND_FAILED', `unexpected answer from the apply poll: ${out.trim().slice(0, 120)}`);
}

function applyFile(stateDir: string, runId: string): string {
  checkRemotePath(stateDir);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(runId)) throw new ConegateError('CG_INPUT_INVALID', `run id '${runId}' has characters a remote file name must not have`);
  return `${stateDir}/apply-${runId}`;
}

export interface DetachedApplyDeps {
  /** A new verified session to the same host (the old one is gone). */
  reconnect: () => Promise<RemoteHost>;
  sleep: (ms: number) => Promise<void>;
  nowMs: () => number;
  /** Per command. */
  timeoutMs: number;
  /** How long the apply may take in all, reconnections included. */
  budgetMs: number;
  pollEveryMs?: number;
}

/**
 * Starts the apply detached and waits for its exit status, reconnecting when the session drops.
 * Returns the status and the session to go on with (a new one after a drop; the old one is closed).
 * Throws the session error when the host cannot be reached again within the budget, or when the
 * launch itself was lost and the script never got onto the host (the caller then settles it).
 */
export async function applyDetached(remote: RemoteHost, stateDir: string, runId: string, script: string, d: DetachedApplyDeps): Promise<{ code: number; stderr: string; remote: RemoteHost }> {
  const deadline = d.nowMs() + d.budgetMs;
  let current = remote;
  let launchLost: unknown;
  try {
    const r = await current.exec('/bin/sh -s', { stdin: launchScript(stateDir, runId, script), timeoutMs: d.timeoutMs });
    if (r.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `starting the apply failed with status ${r.code}, nothing changed: ${r.stderr.trim().slice(0, 200)}`);
  } catch (err) {
    if (err instanceof ConegateError && err.code === 'CG_COMMAND_FAILED') throw err;
    launchLost = err;
  }
  // Bounded by the budget, and by a count too (a test clock may not advance).
  for (let polls = 0; polls < 20_000; polls++) {
    let state: PollState;
    try {
      if (launchLost !== undefined && polls === 0) throw launchLost;
      const r = await current.exec('/bin/sh -s', { stdin: pollScript(stateDir, runId), timeoutMs: d.timeoutMs });
      state = parsePoll(r.stdout);
    } catch (err) {
      if (err instanceof ConegateError && err.code === 'CG_COMMAND_FAILED') throw err;
      await current.close().catch(() => {});
      current = await reconnectUntil(d, deadline, err);
      continue;
    }
    if (state.state === 'done') {
      await current.exec('/bin/sh -s', { stdin: forgetScript(stateDir, runId), timeoutMs: d.timeoutMs }).catch(() => undefined);
      return { code: state.code, stderr: state.stderr, remote: current };
    }
    if (state.state === 'absent') {
      if (launchLost !== undefined) throw launchLost;
      throw new ConegateError('CG_COMMAND_FAILED', 'the apply script is gone from the host before it ended');
    }
    if (d.nowMs() > deadline) throw new ConegateError('CG_TIMEOUT', `the apply did not end within ${Math.round(d.budgetMs / 1000)} s`);
    await d.sleep(d.pollEveryMs ?? 250);
  }
  throw new ConegateError('CG_TIMEOUT', 'the apply did not end');
}

async function reconnectUntil(d: DetachedApplyDeps, deadline: number, lost: unknown): Promise<RemoteHost> {
  for (let tries = 0; ; tries++) {
    try {
      return await d.reconnect();
    } catch {
      if (d.nowMs() + 1000 > deadline || tries >= 120) throw lost;
      await d.sleep(1000);
    }
  }
}
