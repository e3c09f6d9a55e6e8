/**
 * "Commit confirmed" across a reboot, pure: the resolve script that applyScript (device-txn.ts) writes
 * beside revert.sh as `STATE/resolve.sh`. It decides what to do with a held lock whose timer may be
 * gone, and is run by
 * - the packaged boot check (agent/init/conegate-fleet-boot-check), before the agent starts: `boot`
 *   mode restores files, trees and revert commands but leaves the service alone (the boot path starts
 *   it next); UniFi's on_boot.d hook runs it with `--live` (the agent may already be running there);
 * - the next rollout (applyScript), `live` mode, when it finds the lock held: an orphaned transaction
 *   is reverted, then that rollout proceeds.
 *
 * Per transaction the lock dir holds `boot` (the boot id when the lock was taken: Linux
 * /proc/sys/kernel/random/boot_id, FreeBSD kern.boottime) and `armed` (made once the timer runs); a
 * revert writes its pid to `decided/pid`. A pid counts as running only if `ps` shows it running this
 * state dir's revert.sh (a pid reused by another process, after a reboot or not, is not the timer).
 * - The timer runs, or a revert runs: left alone (whatever the boot id says: FreeBSD's kern.boottime
 *   moves when the clock is stepped).
 * - A decision without a running revert: in the same boot, left alone (a confirm takes a moment); after
 *   a reboot it is finished: confirmed or reverted -> the lock is released, else the revert reruns.
 * - Not armed: in the same boot the apply is still preparing, left alone; after a reboot nothing was
 *   changed, the lock is released.
 * - Armed, timer gone (no decision): reverted; in the same boot only once the timer pid was written.
 * It prints at most one line (stdout) saying what it did; it always exits 0.
 */
import { shQuote } from './ssh-upload.ts';

/** The boot identity, GNU/Linux or FreeBSD; empty where neither exists. */
export const BOOT_ID_FN = 'bootid() { cat /proc/sys/kernel/random/boot_id 2>/dev/null || sysctl -n kern.boottime 2>/dev/null || true; }';

export function resolveScript(stateDir: string): string {
  return [
    '#!/bin/sh',
    `S=${shQuote(stateDir)}`,
    BOOT_ID_FN,
    'mode=${1:-boot}; [ "$mode" = live ] || mode=boot',
    'say() { echo "conegate-fleet: $S: $1"; }',
    // Without a usable ps (-ww: never cut), a live pid counts as ours: never revert a live transaction.
    'running() { p=$(cat "$1" 2>/dev/null) || return 1; case "$p" in ""|*[!0-9]*) return 1 ;; esac; kill -0 "$p" 2>/dev/null || return 1; a=$(ps -ww -o args= -p "$p" 2>/dev/null) || return 0; case "$a" in *"$S/revert.sh"*) return 0 ;; esac; return 1; }',
    '[ -d "$S/lock" ] || exit 0',
    'o=$(cat "$S/lock/owner" 2>/dev/null || echo unknown)',
    'now=$(bootid); was=$(cat "$S/lock/boot" 2>/dev/null || true)',
    'rebooted=0; [ -n "$now" ] && [ -n "$was" ] && [ "$now" != "$was" ] && rebooted=1',
    'if running "$S/timer.pid"; then say "left alone: the change of $o is armed, its revert timer (pid $p) runs"; exit 0; fi',
    'if [ -e "$S/decided" ]; then',
    '  if running "$S/decided/pid"; then say "left alone: the change of $o is being reverted (pid $p)"; exit 0; fi',
    '  if [ $rebooted = 0 ]; then say "left alone: the change of $o is being confirmed or reverted"; exit 0; fi',
    '  if [ -e "$S/confirmed" ] || [ -e "$S/reverted" ]; then rm -f "$S/timer.pid"; rm -rf "$S/lock"; say "released the lock of $o (decided before a reboot)"; exit 0; fi',
    '  why="a revert cut short by a reboot"',
    'elif [ ! -e "$S/lock/armed" ]; then',
    '  if [ $rebooted = 0 ]; then say "left alone: the change of $o is not armed yet"; exit 0; fi',
    '  rm -f "$S/timer.pid"; rm -rf "$S/lock"; say "released the lock of $o (a reboot before its change was armed; nothing was changed)"; exit 0',
    'else',
    '  if [ $rebooted = 0 ] && [ ! -s "$S/timer.pid" ]; then say "left alone: the change of $o has no timer pid yet"; exit 0; fi',
    '  mkdir "$S/decided" 2>/dev/null || { say "left alone: the change of $o is being decided"; exit 0; }',
    '  if [ $rebooted = 1 ]; then why="armed before a reboot, never confirmed"; else why="its revert timer is gone, never confirmed"; fi',
    'fi',
    // The pid in timer.pid is dead or belongs to another process now: never signal it.
    'rm -f "$S/timer.pid"',
    'if [ "$mode" = live ]; then sh "$S/revert.sh" claimed; else sh "$S/revert.sh" boot; fi',
    'say "reverted the change of $o ($why): $(cat "$S/reverted" 2>/dev/null || echo unknown)"',
    'exit 0',
    '',
  ].join('\n');
}
