/**
 * Test support for the rollout (twin and lab tests; never used by the CLI): fake device roots,
 * packages built with the system tar, a health gate that reads what the host runs, and snapshots of
 * every file under a root (sha256, mode, link target, mtime) to prove "exactly the previous files"
 * and "--check touched nothing".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pidAlive } from '../../fw/nat/files.ts';
import type { FleetHost, FleetPlatform, RemoteHost } from '../types.ts';
import type { HealthGate, HealthSample, PackageRef } from './contract.ts';

export const LINUX_MARKERS: Record<string, string> = { '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n' };
export const UNIFI_MARKERS: Record<string, string> = { '/usr/lib/version': 'UDMPRO.al324.v4.1.13.5acc35d.240819.1714\n', '/etc/os-release': 'ID=debian\n' };
export const OPNSENSE_MARKERS: Record<string, string> = { '/usr/local/opnsense/version/core': '{"product_name":"OPNsense","product_version":"25.7.6"}\n' };

/** A fake device root: the marker files, plus the directories a real system has. */
export function makeRoot(dir: string, markers: Record<string, string>, extraDirs: string[] = ['/var/lib', '/var/db', '/etc', '/data']): string {
  for (const d of extraDirs) mkdirSync(join(dir, d), { recursive: true });
  for (const [p, text] of Object.entries(markers)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

export function twinHost(name: string, platform: FleetPlatform | 'auto', vars: Record<string, unknown> = {}): FleetHost {
  return { name, address: name, port: 22, user: 'root', vars, groups: ['all'], platform };
}

/**
 * A package tarball with one top directory (as `npm run package` builds them): `files` maps paths
 * inside it to contents; `VERSION` is added. Built with the system tar, gzip.
 */
export function makeTarball(workDir: string, top: string, version: string, files: Record<string, string | { text: string; mode: number }>): PackageRef {
  const src = join(workDir, `src-${top}`);
  const all: Record<string, string | { text: string; mode: number }> = { VERSION: `${version}\n`, ...files };
  for (const [p, v] of Object.entries(all)) {
    const f = join(src, top, p);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, typeof v === 'string' ? v : v.text, { mode: typeof v === 'string' ? 0o644 : v.mode });
  }
  const file = join(workDir, `${top}.tar.gz`);
  execFileSync('tar', ['-czf', file, '-C', src, top]);
  return { version, file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

export interface SnapshotEntry { type: 'file' | 'dir' | 'link'; mode: number; sha256?: string; target?: string; mtimeMs?: number }

/** Every entry under root (paths relative to it), except those under `exclude` (relative, e.g. the transaction dir). */
export function snapshot(root: string, o: { mtimes?: boolean; exclude?: string[] } = {}): Record<string, SnapshotEntry> {
  const out: Record<string, SnapshotEntry> = {};
  const skip = (o.exclude ?? []).map((e) => e.replace(/^\//, ''));
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (skip.some((e) => rel === e || rel.startsWith(e + '/'))) continue;
      // Gone since readdir (a file the host removes while we look): not part of the tree.
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      const base = { mode: st.mode & 0o7777, ...(o.mtimes ? { mtimeMs: st.mtimeMs } : {}) };
      if (st.isSymbolicLink()) out[rel] = { type: 'link', ...base, target: readlinkSync(p) };
      else if (st.isDirectory()) { out[rel] = { type: 'dir', ...base }; walk(p); }
      else out[rel] = { type: 'file', ...base, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') };
    }
  };
  walk(root);
  return out;
}

/**
 * A health gate for the twin: the host is healthy while the version it runs (`VERSION` under the
 * linux `current` link or UniFi's /data/conegate) has no `bad` in it. Commands run with the fake root
 * as cwd, so the paths are relative.
 */
export function versionHealthGate(o: { settleMs?: number; intervalMs?: number } = {}): HealthGate & { samples: number } {
  const gate = {
    samples: 0,
    settleMs: o.settleMs ?? 3000,
    intervalMs: o.intervalMs ?? 1000,
    async sample(remote: RemoteHost): Promise<HealthSample> {
      gate.samples++;
      const r = await remote.exec('cat opt/conegate/current/VERSION data/conegate/VERSION 2>/dev/null; exit 0', { timeoutMs: 10_000 });
      const version = r.stdout.trim().split('\n')[0] || undefined;
      return { atMs: 0, agentAnswering: version !== undefined, ...(version ? { version } : {}), peersTotal: 1, peersUp: 1, directShare: 1, mappingServer: null, rssMB: 50 };
    },
    judge(_baseline: HealthSample | undefined, after: HealthSample[]) {
      const bad = after.filter((s) => !s.agentAnswering || s.version?.includes('bad'));
      return bad.length ? { ok: false, reasons: [`agent unhealthy in ${bad.length} of ${after.length} samples (${bad[0]!.version ?? 'not answering'})`] } : { ok: true, reasons: [] };
    },
  };
  return gate;
}

/**
 * What a reboot does to an armed device transaction: its detached timer (its own session: setsid)
 * is killed, then waited for, bounded, until init has reaped it. Returns the timer's pid.
 */
export async function killTxnTimer(stateDir: string): Promise<number> {
  const pid = Number(readFileSync(join(stateDir, 'timer.pid'), 'utf8'));
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${stateDir}/timer.pid: no pid`);
  // The timer runs `setsid sh -c ...` in the background: until setsid() has run, its process group
  // does not exist yet (ESRCH), so keep trying (bounded) rather than fail on a busy machine.
  for (let i = 0; ; i++) {
    try {
      process.kill(-pid, 'SIGKILL');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH' || !pidAlive(pid) || i >= 500) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  for (let i = 0; i < 500 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  if (pidAlive(pid)) throw new Error(`timer ${pid} is still there`);
  return pid;
}
