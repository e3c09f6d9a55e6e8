/**
 * The device-side transaction, pure: POSIX sh scripts sent to `/bin/sh -s` (never a command line, so
 * the login shell does not matter). `applyScript` takes the per-host lock, backs up every file it will
 * replace with its sha256, arms a detached confirm-or-revert timer that outlives the SSH session, moves
 * the already uploaded (and verified) staged files into place and starts the service. `confirmScript`,
 * sent over a new connection after the health gate, disarms the timer and releases the lock. If the
 * timer fires first, the host restores exactly its previous files (checked against the recorded
 * sha256) and restarts by itself.
 *
 * Exit statuses of applyScript: 0 applied and armed, 75 another transaction holds the lock,
 * 1 failed before the timer was armed (nothing changed), 2 failed after (the revert runs now).
 */
import { posix } from 'node:path';
import { ConegateError } from '../errors.ts';
import { checkRemotePath, shQuote } from './ssh-upload.ts';

export interface TxnFile {
  /** Where the file goes. */
  target: string;
  /** Where it was uploaded (beside the target, verified by upload()). */
  staged: string;
}

export interface TxnPlan {
  /** Per-host transaction directory (lock, backups, timer), e.g. /var/db/conegate-fleet. */
  stateDir: string;
  files: TxnFile[];
  /** One-line commands; empty = none. */
  stopCommand: string;
  startCommand: string;
  /** @default 120 */
  revertAfterSec?: number;
}

export const TXN_EXIT = { ok: 0, failedBefore: 1, failedAfter: 2, busy: 75 } as const;

function check(plan: TxnPlan): void {
  checkRemotePath(plan.stateDir);
  for (const f of plan.files) {
    checkRemotePath(f.target);
    checkRemotePath(f.staged);
  }
  for (const c of [plan.stopCommand, plan.startCommand]) {
    if (/[\r\n]/.test(c)) throw new ConegateError('CG_INPUT_INVALID', 'service commands must be one line');
  }
  const sec = plan.revertAfterSec ?? 120;
  if (!Number.isInteger(sec) || sec < 1 || sec > 86_400) throw new ConegateError('CG_INPUT_INVALID', `revert timer ${sec} s is not 1..86400`);
}

/** sha256 of a file, GNU or FreeBSD. */
const SHA_FN = 'sha() { if command -v sha256sum >/dev/null 2>&1; then sha256sum < "$1" | cut -d" " -f1; else sha256 -q "$1"; fi; }';

/** The restore script the timer runs: every file back (or removed if it was absent), checked. */
function revertScript(plan: TxnPlan): string {
  const S = shQuote(plan.stateDir);
  return [
    '#!/bin/sh',
    `S=${S}`,
    SHA_FN,
    `{ ${plan.stopCommand || ':'}; } >/dev/null 2>&1`,
    'bad=0',
    'while IFS=" " read -r n state want target; do',
    '  if [ "$state" = absent ]; then rm -f "$target"; continue; fi',
    '  cp -p "$S/backup/$n" "$target.cg-restore" && mv -f "$target.cg-restore" "$target" || bad=1',
    '  [ "$(sha "$target")" = "$want" ] || bad=1',
    'done < "$S/manifest"',
    `{ ${plan.startCommand || ':'}; } >/dev/null 2>&1 || bad=1`,
    'if [ $bad = 0 ]; then echo ok > "$S/reverted"; else echo mismatch > "$S/reverted"; fi',
    'rm -f "$S/timer.pid"; rmdir "$S/lock" 2>/dev/null',
    '',
  ].join('\n');
}

export function applyScript(plan: TxnPlan): string {
  check(plan);
  const sec = plan.revertAfterSec ?? 120;
  const lines = [
    `S=${shQuote(plan.stateDir)}`,
    SHA_FN,
    'mkdir -p "$S" || exit 1',
    `mkdir "$S/lock" 2>/dev/null || { echo "another transaction holds $S/lock" >&2; exit ${TXN_EXIT.busy}; }`,
    'fail() { echo "$1" >&2; rmdir "$S/lock"; exit 1; }',
    'rm -rf "$S/backup" "$S/manifest" "$S/reverted" "$S/confirmed"; mkdir "$S/backup" || fail "cannot make $S/backup"',
    ': > "$S/manifest"',
  ];
  plan.files.forEach((f, i) => {
    const t = shQuote(f.target);
    lines.push(
      `[ -f ${shQuote(f.staged)} ] || fail ${shQuote(`staged file ${f.staged} missing`)}`,
      `if [ -e ${t} ]; then cp -p ${t} "$S/backup/${i}" || fail "backup failed"; echo "${i} present $(sha ${t}) "${t} >> "$S/manifest";`,
      `else echo "${i} absent - "${t} >> "$S/manifest"; fi`,
    );
  });
  lines.push(
    `cat > "$S/revert.sh" <<'CONEGATE_REVERT'\n${revertScript(plan)}CONEGATE_REVERT`,
    // The timer: its own session (setsid on Linux, daemon(8) on FreeBSD, nohup as the last resort),
    // stdio detached, so neither the end of this SSH session nor its SIGHUP reaches it.
    `T="sleep ${sec}; [ -e \\"$S/confirmed\\" ] || sh \\"$S/revert.sh\\""`,
    'if command -v setsid >/dev/null 2>&1; then setsid sh -c "$T" </dev/null >/dev/null 2>&1 & echo $! > "$S/timer.pid"',
    'elif command -v daemon >/dev/null 2>&1; then daemon -p "$S/timer.pid" sh -c "$T" </dev/null >/dev/null 2>&1',
    'else nohup sh -c "$T" </dev/null >/dev/null 2>&1 & echo $! > "$S/timer.pid"; fi',
    `${plan.stopCommand || ':'} || true`,
  );
  for (const f of plan.files) {
    lines.push(`mv -f ${shQuote(f.staged)} ${shQuote(f.target)} || { echo "install of ${posix.basename(f.target)} failed; reverting" >&2; sh "$S/revert.sh"; exit ${TXN_EXIT.failedAfter}; }`);
  }
  lines.push(
    `${plan.startCommand || ':'} || { echo "start failed; reverting" >&2; sh "$S/revert.sh"; exit ${TXN_EXIT.failedAfter}; }`,
    'echo armed',
    '',
  );
  return lines.join('\n');
}

/** Disarms the timer and releases the lock; exit 3 when there is nothing to confirm (already reverted). */
export function confirmScript(stateDir: string): string {
  checkRemotePath(stateDir);
  return [
    `S=${shQuote(stateDir)}`,
    '[ -d "$S/lock" ] && [ ! -e "$S/reverted" ] || { echo "no armed transaction in $S" >&2; exit 3; }',
    'touch "$S/confirmed"',
    // The timer's shell may have forked its sleep; ending the session's group ends both.
    'if [ -f "$S/timer.pid" ]; then p=$(cat "$S/timer.pid"); kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; rm -f "$S/timer.pid"; fi',
    'rmdir "$S/lock"',
    'echo confirmed',
    '',
  ].join('\n');
}
