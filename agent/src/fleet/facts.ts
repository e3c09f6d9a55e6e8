/**
 * What is on a host before a change, in ONE exec: the marker files, every platform's conegate config
 * file and the fleet state file (the version and package hash the fleet installed last), dumped by a
 * `/bin/sh -s` script; the platform is decided on the controller from the dump (detect.ts), then the
 * files of that platform give HostFacts and the current config text (for --diff). The config can hold
 * keys: it is kept in memory for the diff and never logged.
 */
import { ConegateError } from '../errors.ts';
import { detectFromMarkers, fileDumpScript, MARKER_DUMP, markersFrom, parseFileDump, type Detected, type DumpFile } from './detect.ts';
import { PLATFORM_LAYOUT, sha256Hex } from './plan.ts';
import type { HostFacts, RemoteHost } from './types.ts';

const MAX_CONFIG_BYTES = 1024 * 1024;

const EXTRA: readonly DumpFile[] = [
  ...new Set(Object.values(PLATFORM_LAYOUT).flatMap((l) => [l.configPath, l.stateFile])),
].map((path) => ({ path, maxBytes: MAX_CONFIG_BYTES }));

export function probeScript(root = ''): string {
  return fileDumpScript([...MARKER_DUMP, ...EXTRA], root);
}

export interface Probe {
  detected: Detected;
  facts: HostFacts;
  /** The installed config text, when there is one. */
  currentConfig?: string;
}

/** Facts from the probe's output; a damaged state file counts as "not installed by the fleet". */
export function probeFrom(out: string): Probe {
  const files = parseFileDump(out);
  const detected = detectFromMarkers(markersFrom(files));
  if (detected.platform === 'unknown') return { detected, facts: { platform: 'unknown' } };
  const layout = PLATFORM_LAYOUT[detected.platform];
  const config = files.get(layout.configPath);
  const state = parseState(files.get(layout.stateFile));
  const facts: HostFacts = {
    platform: detected.platform,
    ...(state.version ? { version: state.version } : {}),
    ...(state.packageHash ? { packageHash: state.packageHash } : {}),
    ...(config !== undefined ? { configHash: sha256Hex(config) } : {}),
  };
  return { detected, facts, ...(config !== undefined ? { currentConfig: config } : {}) };
}

function parseState(text: string | undefined): { version?: string; packageHash?: string } {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    return {
      ...(typeof v.version === 'string' ? { version: v.version } : {}),
      ...(typeof v.packageHash === 'string' && /^[0-9a-f]{64}$/.test(v.packageHash) ? { packageHash: v.packageHash } : {}),
    };
  } catch {
    return {};
  }
}

/** Runs the probe on a host (one exec channel, script on stdin). */
export async function probeHost(remote: RemoteHost, timeoutMs: number, root = ''): Promise<Probe> {
  const r = await remote.exec('/bin/sh -s', { stdin: probeScript(root), timeoutMs });
  if (r.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `probe failed with status ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
  return probeFrom(r.stdout);
}
