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
import { BOOT_ID_FN, resolveScript } from './device-resolve.ts';
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
  /**
   * Paths (files, directories, symlinks) an install command changes in place: each is saved as a tar
   * (or recorded as absent) before the timer is armed, and the revert removes it and unpacks the tar,
   * so a tree comes back exactly (contents, modes, mtimes, links) or goes away if it was not there.
   */
  trees?: string[];
  /** One-line commands run after the backup, before the timer (e.g. `pkg create` of the installed package); a failure changes nothing. */
  prepareCommands?: string[];
  /** One-line commands run after the files are moved, before the start (e.g. `pkg add -f`, extracting a release). */
  installCommands?: string[];
  /** One-line commands the revert runs after restoring files and trees, before the start (e.g. `pkg add -f` of the previous package). */
  revertCommands?: string[];
  /** Directories made for the staged uploads: the revert removes them again (deepest first, only if empty). */
  createdDirs?: string[];
  /** Who holds the lock (shown to a second rollout): one line of safe characters. */
  owner?: string;
}

export const TXN_EXIT = { ok: 0, failedBefore: 1, failedAfter: 2, busy: 75 } as const;

function check(plan: TxnPlan): void {
  checkRemotePath(plan.stateDir);
  for (const f of plan.files) {
    checkRemotePath(f.target);
    checkRemotePath(f.staged);
  }
  for (const p of [...(plan.trees ?? []), ...(plan.createdDirs ?? [])]) checkRemotePath(p);
  const commands = [plan.stopCommand, plan.startCommand, ...(plan.prepareCommands ?? []), ...(plan.installCommands ?? []), ...(plan.revertCommands ?? [])];
  for (const c of commands) {
    // A command line lands inside the revert script's here-document too: one line, and never the delimiter.
    if (/[\r\n]/.test(c) || c.includes('CONEGATE_REVERT')) throw new ConegateError('CG_INPUT_INVALID', 'service and install commands must be one line');
  }
  if (plan.owner !== undefined && !/^[A-Za-z0-9._:@+-]{1,128}$/.test(plan.owner)) throw new ConegateError('CG_INPUT_INVALID', 'lock owner must be 1..128 of A-Z a-z 0-9 . _ : @ + -');
  const sec = plan.revertAfterSec ?? 120;
  if (!Number.isInteger(sec) || sec < 1 || sec > 86_400) throw new ConegateError('CG_INPUT_INVALID', `revert timer ${sec} s is not 1..86400`);
}

/** sha256 of a file, GNU or FreeBSD. */
const SHA_FN = 'sha() { if command -v sha256sum >/dev/null 2>&1; then sha256sum < "$1" | cut -d" " -f1; else sha256 -q "$1"; fi; }';

/** Ends the detached timer (its whole session: the shell may have forked its sleep). */
const KILL_TIMER = 'if [ -f "$S/timer.pid" ]; then p=$(cat "$S/timer.pid"); kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; rm -f "$S/timer.pid"; fi';

/**
 * The restore script: every file back (or removed if it was absent), checked; every tree back from
 * its tar; then the revert commands. Exactly one of confirm and revert wins: both first make
 * `$S/decided` (mkdir is atomic), so a timer that fires while the controller confirms does nothing.
 * `sh revert.sh timer` is the timer itself; `claimed` = the caller already made `decided`; `boot` = claimed,
 * and the service is neither stopped nor started (the boot check runs before the agent starts: device-resolve.ts).
 */
function revertScript(plan: TxnPlan): string {
  const S = shQuote(plan.stateDir);
  const dirs = [...(plan.createdDirs ?? [])].sort((a, b) => b.length - a.length);
  return [
    '#!/bin/sh',
    `S=${S}`,
    SHA_FN,
    'svc=1; [ "$1" = boot ] && svc=0',
    '[ "$1" = claimed ] || [ "$1" = boot ] || mkdir "$S/decided" 2>/dev/null || exit 0',
    // Who reverts: the boot check leaves a running revert alone (device-resolve.ts).
    'echo $$ > "$S/decided/pid" 2>/dev/null',
    `[ "$1" = timer ] || { ${KILL_TIMER}; }`,
    `[ $svc = 0 ] || { ${plan.stopCommand || ':'}; } >/dev/null 2>&1`,
    'bad=0',
    'while IFS=" " read -r n state want target; do',
    '  if [ "$state" = absent ]; then rm -f "$target"; continue; fi',
    '  cp -p "$S/backup/$n" "$target.cg-restore" && mv -f "$target.cg-restore" "$target" || bad=1',
    '  [ "$(sha "$target")" = "$want" ] || bad=1',
    'done < "$S/manifest"',
    'while IFS=" " read -r n state target; do',
    '  rm -rf "$target"',
    '  if [ "$state" = present ]; then tar -xpf "$S/backup/tree-$n.tar" -C "$(dirname "$target")" || bad=1; fi',
    'done < "$S/trees"',
    ...(plan.revertCommands ?? []).map((c) => `{ ${c}; } >/dev/null 2>&1 || bad=1`),
    ...dirs.map((d) => `rmdir ${shQuote(d)} 2>/dev/null`),
    `[ $svc = 0 ] || { ${plan.startCommand || ':'}; } >/dev/null 2>&1 || bad=1`,
    'if [ $bad = 0 ]; then echo ok > "$S/reverted"; else echo mismatch > "$S/reverted"; fi',
    'rm -f "$S/timer.pid"; rm -rf "$S/lock"',
    'exit 0',
    '',
  ].join('\n');
}

export function applyScript(plan: TxnPlan): string {
  check(plan);
  const sec = plan.revertAfterSec ?? 120;
  const lines = [
    `S=${shQuote(plan.stateDir)}`,
    SHA_FN,
    BOOT_ID_FN,
    'mkdir -p "$S" || exit 1',
    // A held lock: its own resolve.sh reverts it if it is orphaned (armed in an earlier boot, or its
    // timer is gone), then this transaction proceeds; a live one is left alone and this one is refused.
    `mkdir "$S/lock" 2>/dev/null || { [ -f "$S/resolve.sh" ] && sh "$S/resolve.sh" live >&2; mkdir "$S/lock" 2>/dev/null; } || { echo "another transaction holds $S/lock (owner: $(cat "$S/lock/owner" 2>/dev/null || echo unknown); in progress)" >&2; exit ${TXN_EXIT.busy}; }`,
    `echo ${shQuote(plan.owner ?? 'unknown')} > "$S/lock/owner"; bootid > "$S/lock/boot"`,
    'fail() { echo "$1" >&2; rm -rf "$S/lock"; exit 1; }',
    'rm -rf "$S/backup" "$S/manifest" "$S/trees" "$S/reverted" "$S/confirmed" "$S/decided"; mkdir "$S/backup" || fail "cannot make $S/backup"',
    ': > "$S/manifest"; : > "$S/trees"',
  ];
  plan.files.forEach((f, i) => {
    const t = shQuote(f.target);
    lines.push(
      `[ -f ${shQuote(f.staged)} ] || fail ${shQuote(`staged file ${f.staged} missing`)}`,
      `if [ -e ${t} ]; then cp -p ${t} "$S/backup/${i}" || fail "backup failed"; echo "${i} present $(sha ${t}) "${t} >> "$S/manifest";`,
      `else echo "${i} absent - "${t} >> "$S/manifest"; fi`,
    );
  });
  (plan.trees ?? []).forEach((t, i) => {
    const q = shQuote(t);
    lines.push(
      `if [ -e ${q} ] || [ -L ${q} ]; then tar -cpf "$S/backup/tree-${i}.tar" -C ${shQuote(posix.dirname(t))} ${shQuote(posix.basename(t))} || fail ${shQuote(`backup of ${t} failed`)}; echo "${i} present "${q} >> "$S/trees";`,
      `else echo "${i} absent "${q} >> "$S/trees"; fi`,
    );
  });
  for (const c of plan.prepareCommands ?? []) lines.push(`${c} || fail ${shQuote(`prepare failed: ${c.slice(0, 80)}`)}`);
  lines.push(
    `cat > "$S/revert.sh" <<'CONEGATE_REVERT'\n${revertScript(plan)}CONEGATE_REVERT`,
    `cat > "$S/resolve.sh" <<'CONEGATE_REVERT'\n${resolveScript(plan.stateDir)}CONEGATE_REVERT`,
    // The timer: its own session (setsid on Linux, daemon(8) on FreeBSD, nohup as the last resort),
    // stdio detached, so neither the end of this SSH session nor its SIGHUP reaches it.
    `T="sleep ${sec}; [ -e \\"$S/confirmed\\" ] || sh \\"$S/revert.sh\\" timer"`,
    ...detachedShell('T', '"$S/timer.pid"'),
    // From here a boot check or the next rollout reverts this transaction if its timer is gone.
    ': > "$S/lock/armed"',
    `${plan.stopCommand || ':'} || true`,
  );
  for (const f of plan.files) {
    lines.push(`mv -f ${shQuote(f.staged)} ${shQuote(f.target)} || { echo "install of ${posix.basename(f.target)} failed; reverting" >&2; sh "$S/revert.sh"; exit ${TXN_EXIT.failedAfter}; }`);
  }
  for (const c of plan.installCommands ?? []) {
    lines.push(`${c} || { echo ${shQuote(`install failed: ${c.slice(0, 80)}`)} >&2; sh "$S/revert.sh"; exit ${TXN_EXIT.failedAfter}; }`);
  }
  lines.push(
    `${plan.startCommand || ':'} || { echo "start failed; reverting" >&2; sh "$S/revert.sh"; exit ${TXN_EXIT.failedAfter}; }`,
    'echo armed',
    '',
  );
  return lines.join('\n');
}

/** With an owner: the armed transaction must be that run's (never confirm or revert another rollout's). */
function ownerCheck(owner: string | undefined): string[] {
  if (owner === undefined) return [];
  if (!/^[A-Za-z0-9._:@+-]{1,128}$/.test(owner)) throw new ConegateError('CG_INPUT_INVALID', 'lock owner must be 1..128 of A-Z a-z 0-9 . _ : @ + -');
  return [`[ "$(cat "$S/lock/owner" 2>/dev/null)" = ${shQuote(owner)} ] || { echo "the transaction in $S belongs to $(cat "$S/lock/owner" 2>/dev/null || echo unknown)" >&2; exit 3; }`];
}

/**
 * Lines that run `sh -c "$VAR"` in a session of its own with stdio detached (setsid on Linux,
 * daemon(8) on FreeBSD, nohup as the last resort): neither the end of the SSH session nor its SIGHUP
 * reaches it. With `pidFile` (a quoted shell word) its PID is recorded there.
 */
export function detachedShell(variable: string, pidFile?: string): string[] {
  const rec = pidFile ? ` echo $! > ${pidFile}` : '';
  return [
    `if command -v setsid >/dev/null 2>&1; then setsid sh -c "$${variable}" </dev/null >/dev/null 2>&1 &${rec}`,
    `elif command -v daemon >/dev/null 2>&1; then daemon${pidFile ? ` -p ${pidFile}` : ''} sh -c "$${variable}" </dev/null >/dev/null 2>&1`,
    `else nohup sh -c "$${variable}" </dev/null >/dev/null 2>&1 &${rec && `${rec};`} fi`,
  ];
}

/** Disarms the timer and releases the lock; exit 3 when there is nothing to confirm (already reverted or reverting). */
export function confirmScript(stateDir: string, owner?: string): string {
  checkRemotePath(stateDir);
  return [
    `S=${shQuote(stateDir)}`,
    '[ -d "$S/lock" ] && [ ! -e "$S/reverted" ] || { echo "no armed transaction in $S" >&2; exit 3; }',
    ...ownerCheck(owner),
    'mkdir "$S/decided" 2>/dev/null || { echo "the transaction in $S is being reverted" >&2; exit 3; }',
    'touch "$S/confirmed"',
    KILL_TIMER,
    'rm -rf "$S/lock"',
    'echo confirmed',
    '',
  ].join('\n');
}

/**
 * Reverts an armed transaction now (the controller saw the health gate fail), instead of waiting for
 * the timer. Prints the revert's verdict (`ok` or `mismatch`); exit 3 when there is nothing to revert
 * (already confirmed or reverted: the verdict file, if any, is printed).
 */
export function revertNowScript(stateDir: string, owner?: string): string {
  checkRemotePath(stateDir);
  return [
    `S=${shQuote(stateDir)}`,
    '[ -d "$S/lock" ] || { cat "$S/reverted" 2>/dev/null; echo "no armed transaction in $S" >&2; exit 3; }',
    ...ownerCheck(owner),
    'mkdir "$S/decided" 2>/dev/null || { echo "the transaction in $S is already decided" >&2; exit 3; }',
    'sh "$S/revert.sh" claimed',
    'cat "$S/reverted"',
    '',
  ].join('\n');
}

export const PREV_CONFIG_EXIT = { ok: 0, unavailable: 3, untouched: 4 } as const;

/**
 * For `fleet rollback`: prints the config `configPath` held before run `runId` changed this host, from
 * that transaction's backup (checked against its recorded sha256). Only while the host's last
 * transaction is that run's (its fleet state file names the run, no lock is held): any later one has
 * replaced the backup. Exit 4: that transaction did not write the config (the current one is the
 * previous); exit 3 with the reason: no backup to trust (another run since, none before, damaged).
 */
export function previousConfigScript(stateDir: string, configPath: string, fleetStateFile: string, runId: string): string {
  for (const p of [stateDir, configPath, fleetStateFile]) checkRemotePath(p);
  if (!/^[A-Za-z0-9._:@+-]{1,128}$/.test(runId)) throw new ConegateError('CG_INPUT_INVALID', 'run id must be 1..128 of A-Z a-z 0-9 . _ : @ + -');
  const no = (why: string) => `{ echo ${shQuote(why)} >&2; exit ${PREV_CONFIG_EXIT.unavailable}; }`;
  return [
    `S=${shQuote(stateDir)}; C=${shQuote(configPath)}`,
    SHA_FN,
    `[ ! -d "$S/lock" ] || ${no('a transaction is in progress on the host')}`,
    // The fleet state file is written compactly by the executor: `"runId":"<id>"`.
    `grep -F -q ${shQuote(`"runId":"${runId}"`)} ${shQuote(fleetStateFile)} 2>/dev/null || ${no(`the host's last change is not run ${runId}: its backup of the config is gone`)}`,
    `[ -f "$S/manifest" ] || ${no('no transaction backup on the host')}`,
    'found=""',
    'while IFS=" " read -r n state want target; do [ "$target" = "$C" ] && found="$n $state $want"; done < "$S/manifest"',
    `[ -n "$found" ] || exit ${PREV_CONFIG_EXIT.untouched}`,
    'set -- $found',
    `[ "$2" = present ] || ${no('the host had no config before that run')}`,
    `[ "$(sha "$S/backup/$1")" = "$3" ] || ${no('the backup of the config does not match its recorded sha256')}`,
    'cat "$S/backup/$1"',
    '',
  ].join('\n');
}
