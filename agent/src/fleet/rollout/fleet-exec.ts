/**
 * `conegate fleet exec -- SUBCOMMAND...`: runs `conegate SUBCOMMAND...` on every selected host, at
 * most `forks` at a time, and reports each host's exit status and output. The command travels as a
 * script on stdin to `/bin/sh -s` with every argument single-quoted for sh: the login shell (csh on
 * OPNsense, a menu wrapper on pfSense) only ever parses `/bin/sh -s`, so no argument needs csh quoting.
 */
import { ConegateError } from '../../errors.ts';
import type { FleetHost } from '../types.ts';
import { binOverride, findBinLines, rootOverride, shQuote } from './health.ts';
import { mapLimit, withRemote, type FleetRemoteDeps } from './fleet-status.ts';

export interface HostExecResult {
  host: string;
  /** conegate's exit status; absent when it did not run (unreachable, not installed, timed out). */
  code?: number;
  stdout: string;
  stderr: string;
  error?: { code: string; message: string };
}

/** Exit status the script uses when conegate is not on the host (sh's own "not found"). */
const NOT_INSTALLED = 127;
const MAX_ARG_BYTES = 64 * 1024;

/** Arguments a remote conegate may get: any text but NUL (which no argv can carry). */
export function checkExecArgs(args: readonly string[]): void {
  if (args.length === 0) throw new ConegateError('CG_USAGE', 'give the conegate subcommand to run after --, e.g. conegate fleet exec --inventory F -- status --json');
  if (args.some((a) => a.includes('\0'))) throw new ConegateError('CG_USAGE', 'an argument contains a NUL byte');
  if (args.reduce((n, a) => n + Buffer.byteLength(a), 0) > MAX_ARG_BYTES) throw new ConegateError('CG_USAGE', `the arguments are longer than ${MAX_ARG_BYTES} bytes`);
}

/** The script for `/bin/sh -s`: find conegate, run it with the arguments, its stdin closed. */
export function execScript(args: readonly string[], o: { root?: string | undefined; bin?: string | undefined } = {}): string {
  const find = findBinLines(o).map((l) => l.replace(/printf '=== nobin %s\\n' (.*); exit 0;/, `printf 'conegate is not installed (%s)\\n' $1 >&2; exit ${NOT_INSTALLED};`));
  return ['#!/bin/sh', 'set -u', ...find, `exec "$b" ${args.map(shQuote).join(' ')} </dev/null`].join('\n') + '\n';
}

export async function hostExec(host: FleetHost, args: readonly string[], deps: FleetRemoteDeps): Promise<HostExecResult> {
  const r = await withRemote(host, deps, async (remote) => {
    const script = execScript(args, { root: rootOverride(host) ?? deps.root, bin: binOverride(host) });
    return remote.exec('/bin/sh -s', { stdin: script, timeoutMs: deps.timeoutMs ?? 60_000 });
  });
  if (!r.ok) return { host: host.name, stdout: '', stderr: '', error: r.error };
  const { code, stdout, stderr } = r.value;
  if (code === NOT_INSTALLED && /^conegate is not installed/m.test(stderr)) {
    return { host: host.name, stdout, stderr, error: { code: 'CG_NOT_FOUND', message: stderr.trim().split('\n')[0]! } };
  }
  return { host: host.name, code, stdout, stderr };
}

export function fleetExec(hosts: readonly FleetHost[], args: readonly string[], deps: FleetRemoteDeps): Promise<HostExecResult[]> {
  checkExecArgs(args);
  return mapLimit(hosts, deps.forks, (h) => hostExec(h, args, deps));
}

export const execOk = (r: HostExecResult): boolean => r.error === undefined && r.code === 0;

/** Ansible's ad-hoc shape: `host | OK | rc=0 >>` then the output, stderr after stdout. */
export function execText(results: readonly HostExecResult[]): string {
  const blocks = results.map((r) => {
    const head = r.error ? `${r.host} | UNREACHABLE | ${r.error.message}` : `${r.host} | ${r.code === 0 ? 'OK' : 'FAILED'} | rc=${r.code} >>`;
    const body = [r.stdout, r.stderr].map((s) => s.replace(/\n$/, '')).filter((s) => s !== '');
    return [head, ...body].join('\n');
  });
  const failed = results.filter((r) => !execOk(r)).length;
  return `${blocks.join('\n')}\n${results.length} host${results.length === 1 ? '' : 's'}: ${results.length - failed} ok${failed ? `, ${failed} failed` : ''}`;
}
