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
 * /proc/sys/kernel/random/boot_id, FreeBSD kern.boottime) and `armed` (made once the timer runs).
 * - Armed in an earlier boot: its timer died with that boot, whatever its old pid now names. Not
 *   armed -> nothing was changed, the lock is released; confirmed or reverted (the decision was cut
 *   short after its mark) -> the lock is released; else the revert runs (again, if a reboot cut it).
 * - Same boot (or no boot id): a decision in progress (`decided`), a transaction not armed yet, a timer
 *   pid not written yet or a timer still alive (`kill -0`) are left alone; an armed transaction whose
 *   timer pid is dead is reverted. A reused pid looks alive: that lock waits for the next boot.
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
    '[ -d "$S/lock" ] || exit 0',
    'o=$(cat "$S/lock/owner" 2>/dev/null || echo unknown)',
    'now=$(bootid); was=$(cat "$S/lock/boot" 2>/dev/null || true)',
    'if [ -n "$now" ] && [ -n "$was" ] && [ "$now" != "$was" ]; then',
    // The pid in timer.pid belonged to the earlier boot: never signal it.
    '  rm -f "$S/timer.pid"',
    '  if [ ! -e "$S/lock/armed" ]; then rm -rf "$S/lock"; say "released the lock of $o (a reboot before its change was armed; nothing was changed)"; exit 0; fi',
    '  if [ -e "$S/confirmed" ] || [ -e "$S/reverted" ]; then rm -rf "$S/lock"; say "released the lock of $o (decided before a reboot)"; exit 0; fi',
    '  mkdir "$S/decided" 2>/dev/null || true',
    '  why="armed before a reboot, never confirmed"',
    'else',
    '  if [ -e "$S/decided" ]; then say "left alone: the change of $o is being confirmed or reverted"; exit 0; fi',
    '  if [ ! -e "$S/lock/armed" ]; then say "left alone: the change of $o is not armed yet"; exit 0; fi',
    '  p=$(cat "$S/timer.pid" 2>/dev/null || true)',
    '  case "$p" in ""|*[!0-9]*) say "left alone: the change of $o has no timer pid yet"; exit 0 ;; esac',
    '  if kill -0 "$p" 2>/dev/null; then say "left alone: the change of $o is armed, its revert timer (pid $p) runs"; exit 0; fi',
    '  mkdir "$S/decided" 2>/dev/null || { say "left alone: the change of $o is being decided"; exit 0; }',
    '  rm -f "$S/timer.pid"',
    '  why="its revert timer is gone, never confirmed"',
    'fi',
    'if [ "$mode" = live ]; then sh "$S/revert.sh" claimed; else sh "$S/revert.sh" boot; fi',
    'say "reverted the change of $o ($why): $(cat "$S/reverted" 2>/dev/null || echo unknown)"',
    'exit 0',
    '',
  ].join('\n');
}
