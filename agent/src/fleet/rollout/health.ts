/**
 * The health gate's edge: one health sample of a host over its RemoteHost, in ONE exec (`/bin/sh -s`,
 * the script on stdin, so a csh or menu-wrapper login shell never parses it). The script runs the
 * host's own `conegate status --json` (the running agent answers over its control socket) bounded by
 * timeout(1) where the host has it, and the agent process's RSS from ps(1) when status does not carry
 * it. Parsing the output (sampleFrom) and judging samples (health-judge.ts) are pure.
 *
 * Where conegate lives per platform: the packages' paths (opnsense-plugin/pfsense-plugin install
 * /usr/local/bin/conegate, unifi/install.sh /data/conegate/bin/conegate, agent/init/conegate.service
 * /usr/bin/conegate). The host variable `conegate_bin` overrides it (used as written, no root prefix:
 * the lab's stand-in); without it the platform's path under the root (the host's `conegate_root`, else
 * the gate's `root`) is tried, then `conegate` on PATH.
 */
import { ConegateError } from '../../errors.ts';
import type { FleetHost, FleetPlatform, RemoteHost } from '../types.ts';
import type { HealthGate, HealthSample, HealthVerdict } from './contract.ts';
import { DEFAULT_LIMITS, judgeHealth, type HealthLimits } from './health-judge.ts';

export const CONEGATE_BIN: Record<FleetPlatform, string> = {
  opnsense: '/usr/local/bin/conegate',
  pfsense: '/usr/local/bin/conegate',
  unifi: '/data/conegate/bin/conegate',
  linux: '/usr/bin/conegate',
};

/** One peer's path as the sample saw it (fleet status shows these). */
export interface PeerPathSample {
  name: string;
  /** 'direct' | 'udp-relay' | 'tcp-relay' | 'none' */
  path: string;
  /** Direct: the peer's ip:port; UDP relay: the relay's; TCP relay: the region. */
  via: string | null;
  rttMs: number | null;
  online: boolean;
}

/** A HealthSample plus what an admin needs to read it; every added field is optional for judge(). */
export interface HostHealthSample extends HealthSample {
  /** Why the agent did not answer, in the host's own words (first line of the error). */
  error?: string;
  /** The conegate the sample ran. */
  bin?: string;
  /** The mesh is on in the running agent. */
  mesh?: boolean;
  /** Coordinator session phase ('streaming' = connected) and its last error. */
  coordinator?: { phase: string; lastError: string | null };
  peers?: PeerPathSample[];
}

export interface HealthGateOptions {
  /** How long to sample after a change. @default 30000 */
  settleMs?: number;
  /** @default 5000 */
  intervalMs?: number;
  /** Fake root prefix of the twin/lab ('' on real hosts). */
  root?: string;
  /** One sample's exec, end to end. @default 20000 */
  timeoutMs?: number;
  limits?: Partial<HealthLimits>;
}

/** The HealthGate the rollout uses; `sample` also takes the host, for its `conegate_bin` variable. */
export interface FleetHealthGate extends HealthGate {
  sample(remote: RemoteHost, platform: FleetPlatform, host?: FleetHost): Promise<HostHealthSample>;
  /** judge() with the version the change installs: an agent still on the old version fails. */
  judge(baseline: HealthSample | undefined, after: HealthSample[], expectVersion?: string): HealthVerdict;
}

export const DEFAULT_SETTLE_MS = 30_000;
export const DEFAULT_INTERVAL_MS = 5_000;
const STATUS_TIMEOUT_SEC = 15;

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const PLAIN_PATH = /^\/[A-Za-z0-9._/@+-]+$/;

function pathVar(host: FleetHost | undefined, name: 'conegate_bin' | 'conegate_root'): string | undefined {
  const v = host?.vars[name];
  if (v === undefined || (name === 'conegate_root' && v === '')) return undefined;
  if (typeof v !== 'string' || !PLAIN_PATH.test(v)) {
    throw new ConegateError('CG_CONFIG_INVALID', `${host!.name}: ${name} must be an absolute path of letters, digits and ._/@+- (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** `conegate_bin` from the host's variables: an absolute path of plain characters, else refused. */
export const binOverride = (host: FleetHost | undefined) => pathVar(host, 'conegate_bin');
/** `conegate_root`: the host's fake root (the lab; the executor reads the same variable). */
export const rootOverride = (host: FleetHost | undefined) => pathVar(host, 'conegate_root');

/**
 * Shell lines that set `$b` to the conegate to run, or print `=== nobin WHERE` and exit 0: the
 * `conegate_bin` given, else the platform's path under the root, then the other platforms' paths (the
 * platform may not be known: `fleet exec` does not probe), then `conegate` on PATH.
 */
export function findBinLines(o: { platform?: FleetPlatform | undefined; root?: string | undefined; bin?: string | undefined }): string[] {
  if (o.bin !== undefined) return [`b=${shQuote(o.bin)}`, 'if [ ! -x "$b" ]; then printf \'=== nobin %s\\n\' "$b"; exit 0; fi'];
  const paths = [...new Set([...(o.platform ? [CONEGATE_BIN[o.platform]] : []), ...Object.values(CONEGATE_BIN)])].map((p) => (o.root ?? '') + p);
  return [
    'b=',
    `for c in ${paths.map(shQuote).join(' ')}; do if [ -x "$c" ]; then b=$c; break; fi; done`,
    'if [ -z "$b" ]; then b=$(command -v conegate 2>/dev/null) || b=; fi',
    `if [ -z "$b" ]; then printf '=== nobin %s\\n' ${shQuote(o.platform ? paths[0]! : paths.join(', '))}; exit 0; fi`,
  ];
}

/**
 * The sample script. Sections on stdout: `=== bin PATH` (or `=== nobin`), `=== rc N`, the status
 * output (stdout and stderr together; the JSON document is found by its braces), `=== rss KB`.
 * `pid` is read back from the pretty-printed status (a top-level `  "pid": N,` line).
 */
export function healthScript(platform: FleetPlatform, opts: { root?: string | undefined; bin?: string | undefined } = {}): string {
  const lines = ['#!/bin/sh', 'set -u', ...findBinLines({ platform, ...opts })];
  lines.push(
    't=; if command -v timeout >/dev/null 2>&1; then t="timeout ' + STATUS_TIMEOUT_SEC + '"; fi',
    'printf \'=== bin %s\\n\' "$b"',
    // </dev/null: the rest of this script is still on stdin, and it is not for conegate.
    'out=$($t "$b" status --json </dev/null 2>&1); rc=$?',
    'printf \'=== rc %s\\n%s\\n\' "$rc" "$out"',
    'pid=$(printf \'%s\\n\' "$out" | sed -n \'s/^  "pid": \\([0-9][0-9]*\\),\\{0,1\\}$/\\1/p\' | head -n 1)',
    'if [ -n "$pid" ]; then printf \'=== rss %s\\n\' "$(ps -o rss= -p "$pid" 2>/dev/null | tr -d \' \')"; fi',
  );
  return lines.join('\n') + '\n';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON document inside the status section: the whole text, else from the first line starting with
 * `{` to the last line ending with `}` (a warning printed before it, on the merged stderr, is skipped).
 */
function statusDocument(text: string): Obj | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('{'));
  const end = lines.findLastIndex((l) => l.trimEnd().endsWith('}'));
  for (const candidate of [text.trim(), start >= 0 && end >= start ? lines.slice(start, end + 1).join('\n') : '']) {
    if (candidate === '') continue;
    try {
      const v: unknown = JSON.parse(candidate);
      if (isObj(v)) return v;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.length > 200 ? line.slice(0, 200) + '...' : line;
}

function peerSample(p: Obj): PeerPathSample {
  const path = isObj(p.path) ? p.path : undefined;
  const kind = typeof path?.kind === 'string' ? path.kind : 'none';
  const via = kind === 'tcp-relay' ? path?.region : path?.endpoint;
  return {
    name: typeof p.name === 'string' ? p.name : '?',
    path: kind,
    via: typeof via === 'string' ? via : null,
    rttMs: typeof path?.rttMs === 'number' ? path.rttMs : null,
    online: p.online !== false,
  };
}

/** A peer is up when it has a path (direct or either relay) and the coordinator does not call it offline. */
export const peerUp = (p: PeerPathSample): boolean => p.path !== 'none' && p.online;

const notAnswering = (atMs: number): HostHealthSample => ({ atMs, agentAnswering: false, peersTotal: 0, peersUp: 0, directShare: 0, mappingServer: null, rssMB: null });

/** Pure: the script's output -> a sample taken at `atMs`. */
export function sampleFrom(out: string, atMs: number): HostHealthSample {
  const base = notAnswering(atMs);
  const nobin = /^=== nobin (.*)$/m.exec(out);
  if (nobin) return { ...base, error: `conegate is not installed (${nobin[1]} is missing or not executable)` };
  const bin = /^=== bin (.*)$/m.exec(out)?.[1];
  const rcAt = out.search(/^=== rc \d+$/m);
  if (rcAt < 0) return { ...base, error: `the health script's output was cut short: ${firstLine(out) || '(nothing)'}` };
  const rest = out.slice(rcAt);
  const nl = rest.indexOf('\n');
  const rc = Number(rest.slice('=== rc '.length, nl < 0 ? undefined : nl));
  const body = nl < 0 ? '' : rest.slice(nl + 1);
  const rssAt = body.search(/^=== rss /m);
  const text = rssAt < 0 ? body : body.slice(0, rssAt);
  const rssKb = rssAt < 0 ? NaN : parseInt(body.slice(rssAt + '=== rss '.length), 10);
  const withBin = { ...base, ...(bin ? { bin } : {}), ...(Number.isFinite(rssKb) ? { rssMB: Math.round(rssKb / 102.4) / 10 } : {}) };
  if (rc !== 0) return { ...withBin, error: rc === 124 ? `conegate status did not answer within ${STATUS_TIMEOUT_SEC} s` : firstLine(text) || `conegate status exited with ${rc}` };
  const st = statusDocument(text);
  if (!st) return { ...withBin, error: `conegate status answered with something that is not its JSON: ${firstLine(text) || '(nothing)'}` };
  return { ...withBin, ...fromStatus(st, withBin.rssMB) };
}

function fromStatus(st: Obj, psRss: number | null): Partial<HostHealthSample> {
  const comps = isObj(st.components) ? st.components : {};
  const mesh = isObj(st.mesh) ? st.mesh : undefined;
  const peers = Array.isArray(mesh?.peers) ? mesh.peers.filter(isObj).map(peerSample) : [];
  const up = peers.filter(peerUp);
  const direct = up.filter((p) => p.path === 'direct').length;
  const trim = isObj(comps.trim) ? comps.trim : undefined;
  const pmp = comps.pmp;
  const coord = isObj(mesh?.coordinator) ? mesh.coordinator : undefined;
  return {
    agentAnswering: true,
    ...(typeof st.version === 'string' ? { version: st.version } : {}),
    peersTotal: peers.length,
    peersUp: up.length,
    directShare: up.length === 0 ? 0 : direct / up.length,
    // An agent older than the `serving` field reports pmp only once its server started.
    mappingServer: pmp === undefined ? null : isObj(pmp) ? pmp.serving !== false : false,
    rssMB: typeof trim?.rssMb === 'number' ? trim.rssMb : psRss,
    mesh: mesh !== undefined,
    ...(coord ? { coordinator: { phase: String(coord.phase ?? 'unknown'), lastError: typeof coord.lastError === 'string' ? coord.lastError : null } } : {}),
    peers,
  };
}

/** Takes one sample: a failed exec (timeout, lost connection) is a sample of an agent not answering. */
export async function sampleHealth(remote: RemoteHost, platform: FleetPlatform, opts: { root?: string; bin?: string; timeoutMs?: number; nowMs?: () => number } = {}): Promise<HostHealthSample> {
  const now = opts.nowMs ?? (() => Date.now());
  const script = healthScript(platform, opts);
  try {
    const r = await remote.exec('/bin/sh -s', { stdin: script, timeoutMs: opts.timeoutMs ?? 20_000 });
    if (r.code !== 0) return { ...notAnswering(now()), error: `the health script failed with status ${r.code}: ${firstLine(r.stderr) || '(no message)'}` };
    return sampleFrom(r.stdout, now());
  } catch (err) {
    // A hung agent (the exec timed out) is an agent not answering; a lost session is the caller's to
    // handle (the rollout leaves the revert to the host's timer), so it is thrown.
    if (err instanceof ConegateError && err.code === 'CG_TIMEOUT') {
      return { ...notAnswering(now()), error: `no sample: ${err.message}` };
    }
    throw err;
  }
}

/** The gate the rollout CLI hands to runRollout (settle and interval from --settle). */
export function createHealthGate(o: HealthGateOptions = {}): FleetHealthGate {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const settleMs = o.settleMs ?? DEFAULT_SETTLE_MS;
  return {
    settleMs,
    // At least two samples inside a short settle time (the verdict wants the agent answering in the
    // last two), instead of one sample after a fixed 5 s whatever --settle says.
    intervalMs: o.intervalMs ?? Math.min(DEFAULT_INTERVAL_MS, Math.max(250, Math.floor(settleMs / 2))),
    sample: (remote, platform, host) => {
      const bin = binOverride(host);
      const root = rootOverride(host) ?? o.root;
      return sampleHealth(remote, platform, { ...(root ? { root } : {}), ...(bin ? { bin } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
    },
    judge: (baseline, after, expectVersion) => judgeHealth(baseline, after, { limits, settleMs, ...(expectVersion ? { expectVersion } : {}) }),
  };
}
