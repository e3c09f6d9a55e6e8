/**
 * What the PF on this host can do, found on the host itself: the appliance/FreeBSD version (from
 * platform detection: /usr/local/opnsense/version/core, /etc/version, /bin/freebsd-version's
 * USERLAND_VERSION), whether `pfctl -nf -` accepts a one-line `endpoint-independent` rule, and
 * which NAT anchors the loaded ruleset has (`pfctl -sn -a '*'`), i.e. whether ours is evaluated.
 */
import type { PlatformInfo } from '../../platform/detect.ts';
import { eimCapability, EIM_TEST_RULE, type EimCapability } from '../../../../pf-rules/src/capability.ts';
import { ANCHOR } from '../../../../pf-rules/src/generate.ts';
import type { Platform } from '../../../../pf-rules/src/model.ts';
import type { CommandRunner } from './runner.ts';

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

/** `nat-anchor "natearly/*" all` lines of `pfctl -sn -a '*'`. */
export function parseNatAnchors(text: string): string[] {
  return [...text.matchAll(/^\s*nat-anchor\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

/** Whether the ruleset evaluates our anchor: its own name, or a wildcard parent (pfSense `natearly/*`). */
export function anchorHooked(anchors: string[], ours: string): boolean {
  return anchors.some((a) => a === ours || (a.endsWith('/*') && ours.startsWith(a.slice(0, -1))));
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
    const r = await run('pfctl', ['-sn', '-a', '*'], { timeoutMs: 10_000 });
    if (r.code === 0) natAnchors = parseNatAnchors(r.stdout);
  } catch {
    // No pfctl: no anchors to report; the parse test already says why.
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
