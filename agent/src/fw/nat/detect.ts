/**
 * What the PF on this host can do, found on the host itself: the appliance/FreeBSD version (from
 * platform detection: /usr/local/opnsense/version/core, /etc/version, /bin/freebsd-version's
 * USERLAND_VERSION), whether `pfctl -nf -` accepts a one-line `endpoint-independent` rule, and
 * which anchors the main ruleset references (`pfctl -s nat`), i.e. whether ours is evaluated.
 */
import type { PlatformInfo } from '../../platform/detect.ts';
import { eimCapability, EIM_TEST_RULE, type EimCapability } from '../../../../pf-rules/src/capability.ts';
import { ANCHOR } from '../../../../pf-rules/src/generate.ts';
import type { Platform } from '../../../../pf-rules/src/model.ts';
import type { CommandRunner } from './runner.ts';
import { listAnchorRefs, reaches } from '../pf-anchors.ts';

export interface PfCapabilities {
  platform: Platform;
  version?: string;
  /** true/false from the parse test; undefined if it could not run (no pfctl, no permission). */
  parseAccepted?: boolean;
  parseMessage?: string;
  eim: EimCapability;
  /** nat-anchor names in the loaded ruleset. */
  natAnchors: string[];
  /** Our anchor's name on this platform and whether the ruleset steps into it. */
  anchor: string;
  anchorHooked: boolean;
}

export function pfPlatform(info: PlatformInfo): Platform | undefined {
  return info.kind === 'opnsense' || info.kind === 'pfsense' || info.kind === 'freebsd' ? info.kind : undefined;
}

/** Whether a nat-anchor reaches our anchor: its own name, or a wildcard parent (pfSense `natearly/*`). */
export function anchorHooked(natAnchors: string[], ours: string): boolean {
  return reaches(natAnchors.map((name) => ({ type: 'nat', name })), { type: 'nat', name: ours });
}

export async function detectPfCapabilities(info: PlatformInfo, run: CommandRunner): Promise<PfCapabilities> {
  const platform = pfPlatform(info) ?? 'freebsd';
  const version = platform === 'freebsd' ? info.freebsdVersion : info.version;
  let parseAccepted: boolean | undefined;
  let parseMessage: string | undefined;
  try {
    const r = await run('pfctl', ['-nf', '-'], { input: EIM_TEST_RULE, timeoutMs: 10_000 });
    parseMessage = (r.stderr || r.stdout).trim() || undefined;
    if (r.code === 0) parseAccepted = true;
    else if (/syntax error/i.test(r.stderr)) parseAccepted = false;
  } catch (e) {
    parseMessage = e instanceof Error ? e.message : String(e);
  }
  let natAnchors: string[] = [];
  try {
    natAnchors = (await listAnchorRefs((args) => run('pfctl', args, { timeoutMs: 10_000 }), ['nat'])).filter((r) => r.type === 'nat').map((r) => r.name);
  } catch {
    // No pfctl or no permission: no anchors to report; the parse test already says why.
  }
  const anchor = ANCHOR[platform];
  return {
    platform,
    ...(version ? { version } : {}),
    ...(parseAccepted !== undefined ? { parseAccepted } : {}),
    ...(parseMessage ? { parseMessage } : {}),
    eim: eimCapability({ platform, ...(version ? { version } : {}), ...(parseAccepted !== undefined ? { parseAccepted } : {}) }),
    natAnchors,
    anchor,
    anchorHooked: anchorHooked(natAnchors, anchor),
  };
}
