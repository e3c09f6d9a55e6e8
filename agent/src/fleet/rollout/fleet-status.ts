/**
 * `conegate fleet status`: every selected host's version, health, peers, direct share and paths, from
 * one health sample each (health.ts), at most `forks` hosts at a time. A host is connected with its key
 * verified (the connector and trust the CLI builds), its platform taken from the inventory or detected
 * from the marker files, and closed again. An unreachable host is a row with its error, never a crash.
 * Health without a baseline is what a fresh install must show (health-judge.ts): the agent answers, it
 * is connected to the coordinator, and when peers are listed at least one has a path.
 */
import { isConegateError } from '../../errors.ts';
import { detectFromMarkers, markerScript, parseMarkerOutput } from '../detect.ts';
import type { FleetHost, FleetPlatform, HostTrust, RemoteConnector, RemoteHost } from '../types.ts';
import type { HealthVerdict } from './contract.ts';
import { judgeHealth, type HealthLimits } from './health-judge.ts';
import { binOverride, rootOverride, sampleHealth, type HostHealthSample } from './health.ts';
import { textTable } from './report.ts';

export interface FleetRemoteDeps {
  connect: RemoteConnector;
  trust: (host: FleetHost) => HostTrust;
  forks: number;
  /** Fake root prefix (twin/lab) when a host has no `conegate_root`. */
  root?: string;
  /** Per command on a host. @default 20000 */
  timeoutMs?: number;
}

export interface HostStatus {
  host: string;
  reachable: boolean;
  platform?: FleetPlatform;
  sample?: HostHealthSample;
  health: HealthVerdict;
  error?: { code: string; message: string };
}

/** Runs fn over items, at most `limit` at once; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export function errorOf(err: unknown): { code: string; message: string } {
  return isConegateError(err) ? { code: err.code, message: err.message } : { code: 'CG_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Connects, runs fn, closes; a failure to connect or in fn comes back as the error. */
export async function withRemote<R>(host: FleetHost, deps: FleetRemoteDeps, fn: (remote: RemoteHost) => Promise<R>): Promise<{ ok: true; value: R } | { ok: false; connected: boolean; error: { code: string; message: string } }> {
  let remote: RemoteHost;
  try {
    remote = await deps.connect(host, deps.trust(host));
  } catch (err) {
    return { ok: false, connected: false, error: errorOf(err) };
  }
  try {
    return { ok: true, value: await fn(remote) };
  } catch (err) {
    return { ok: false, connected: true, error: errorOf(err) };
  } finally {
    await remote.close().catch(() => undefined);
  }
}

async function platformOf(host: FleetHost, remote: RemoteHost, root: string, timeoutMs: number): Promise<FleetPlatform | undefined> {
  if (host.platform && host.platform !== 'auto') return host.platform;
  const r = await remote.exec('/bin/sh -s', { stdin: markerScript(root), timeoutMs });
  const d = detectFromMarkers(parseMarkerOutput(r.stdout));
  return d.platform === 'unknown' ? undefined : d.platform;
}

export async function hostStatus(host: FleetHost, deps: FleetRemoteDeps, limits?: Partial<HealthLimits>): Promise<HostStatus> {
  const timeoutMs = deps.timeoutMs ?? 20_000;
  const r = await withRemote(host, deps, async (remote) => {
    const root = rootOverride(host) ?? deps.root ?? '';
    const platform = await platformOf(host, remote, root, timeoutMs);
    // Without a known platform every platform's path is tried (linux's first is as good as any).
    const sample = await sampleHealth(remote, platform ?? 'linux', { root, bin: binOverride(host), timeoutMs });
    return { platform, sample };
  });
  if (!r.ok) {
    const what = r.connected ? 'no health sample' : 'unreachable';
    return { host: host.name, reachable: r.connected, health: { ok: false, reasons: [`${what}: ${r.error.message}`] }, error: r.error };
  }
  const { platform, sample } = r.value;
  return { host: host.name, reachable: true, ...(platform ? { platform } : {}), sample, health: judgeHealth(undefined, [sample], limits ? { limits } : {}) };
}

export function fleetStatus(hosts: readonly FleetHost[], deps: FleetRemoteDeps, limits?: Partial<HealthLimits>): Promise<HostStatus[]> {
  return mapLimit(hosts, deps.forks, (h) => hostStatus(h, deps, limits));
}

function pathsText(s: HostHealthSample | undefined): string {
  const peers = s?.peers ?? [];
  if (!s?.agentAnswering) return '';
  if (!s.mesh) return 'mesh off';
  if (peers.length === 0) return 'no peers';
  return peers.map((p) => `${p.name} ${p.online ? p.path : 'offline'}${p.via ? ` ${p.via}` : ''}${p.rttMs !== null ? ` ${Math.round(p.rttMs)}ms` : ''}`).join(', ');
}

/** The human table: one row per host; the last column is the paths, or why the host is not healthy. */
export function statusTable(rows: readonly HostStatus[]): string {
  const body = rows.map((r) => {
    const s = r.sample?.agentAnswering ? r.sample : undefined;
    const health = !r.reachable ? 'unreachable' : r.health.ok ? 'ok' : 'UNHEALTHY';
    const why = r.health.ok ? pathsText(s) : r.health.reasons.join('; ');
    return [
      r.host,
      r.platform ?? '-',
      s?.version ?? '-',
      health,
      s ? `${s.peersUp}/${s.peersTotal}` : '-',
      s && s.peersUp > 0 ? `${Math.round(s.directShare * 100)}%` : '-',
      s?.mappingServer === null || !s ? '-' : s.mappingServer ? 'yes' : 'NO',
      s?.rssMB != null ? `${Math.round(s.rssMB)}MB` : '-',
      why,
    ];
  });
  const bad = rows.filter((r) => !r.health.ok).length;
  const unreachable = rows.filter((r) => !r.reachable).length;
  const tail = `${rows.length} host${rows.length === 1 ? '' : 's'}: ${rows.length - bad} healthy${bad - unreachable > 0 ? `, ${bad - unreachable} unhealthy` : ''}${unreachable > 0 ? `, ${unreachable} unreachable` : ''}`;
  return `${textTable(['HOST', 'PLATFORM', 'VERSION', 'HEALTH', 'PEERS UP', 'DIRECT', 'PMP/PCP', 'RSS', 'PATHS / WHY'], body)}\n${tail}`;
}
