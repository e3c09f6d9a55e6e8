/**
 * May this host get `endpoint-independent`? Two facts decide, both required (pf-facts):
 * 1. pfctl accepts the keyword (`pfctl -nf -` on a one-line test rule; older pfctl says "syntax error"),
 * 2. the kernel is one where EIM does not panic. Kernels built from FreeBSD main between the option's
 *    commit (390dc369, 2024-09) and the crash fixes D53737 (c12013f5bb38) / D53856 (late 2025) can
 *    panic when a mapping fails (seen on pfSense Plus 25.11 RC). A parse test cannot see that, so we
 *    gate on the appliance version too, and refuse what we cannot place after the fixes.
 */
import type { Platform } from './model.ts';

export interface EimCapability {
  eim: boolean;
  /** One sentence for the anchor header and error messages. */
  reason: string;
}

export interface CapabilityFacts {
  platform: Platform;
  /** Appliance version: OPNsense `26.7.2`, pfSense `2.9.0-RELEASE` / `25.11-RELEASE`, FreeBSD userland `15.1-RELEASE-p1`. */
  version?: string;
  /** Result of the `pfctl -nf -` test; undefined when it was not run (generating off the box). */
  parseAccepted?: boolean;
}

function nums(v: string): number[] {
  return (v.match(/^\d+(?:\.\d+)*/)?.[0] ?? '').split('.').filter(Boolean).map(Number);
}

function atLeast(v: string, min: number[]): boolean {
  const a = nums(v);
  for (let i = 0; i < min.length; i++) {
    const x = a[i] ?? 0;
    if (x !== min[i]) return x > min[i]!;
  }
  return true;
}

/** Whether the appliance version is one whose PF has EIM without the panic, and why. */
export function versionAllowsEim(platform: Platform, version: string | undefined): EimCapability {
  if (!version) return { eim: false, reason: `${platform} version unknown, so the EIM kernel fix (D53737/D53856) cannot be confirmed` };
  if (platform === 'opnsense') {
    // 26.7 is FreeBSD 15.1 (after the fixes); 25.x and 26.1 are FreeBSD 14 without the option.
    return atLeast(version, [26, 7]) ? { eim: true, reason: `OPNsense ${version} (FreeBSD 15.1) has endpoint-independent NAT` } : { eim: false, reason: `OPNsense ${version} runs FreeBSD 14, whose PF lacks endpoint-independent (needs 26.7+)` };
  }
  if (platform === 'pfsense') {
    const plus = /^\d{2}\.\d{2}/.test(version);
    if (/-(DEVELOPMENT|RC|BETA|ALPHA)/i.test(version)) return { eim: false, reason: `pfSense ${version} is a development build; builds of that period can panic with EIM (D53737)` };
    if (plus) return atLeast(version, [26, 1]) ? { eim: true, reason: `pfSense Plus ${version} has endpoint-independent NAT with the crash fixes` } : { eim: false, reason: `pfSense Plus ${version}: before 26.x (25.11 RC builds panicked with EIM; older ones lack it)` };
    return atLeast(version, [2, 9, 0]) ? { eim: true, reason: `pfSense CE ${version} has endpoint-independent NAT` } : { eim: false, reason: `pfSense CE ${version} lacks endpoint-independent (needs 2.9.0+)` };
  }
  if (/CURRENT|STABLE|PRERELEASE|BETA|RC|ALPHA/.test(version)) return { eim: false, reason: `FreeBSD ${version} is a development build; it may predate the EIM crash fixes` };
  if (atLeast(version, [15, 1])) return { eim: true, reason: `FreeBSD ${version} has endpoint-independent NAT with the crash fixes` };
  if (atLeast(version, [15, 0])) return { eim: false, reason: `FreeBSD ${version} has the option but may lack the crash fixes D53737/D53856; needs 15.1+` };
  return { eim: false, reason: `FreeBSD ${version} lacks endpoint-independent NAT (added in 15.0)` };
}

/** Combines the parse test and the version gate. */
export function eimCapability(facts: CapabilityFacts): EimCapability {
  const byVersion = versionAllowsEim(facts.platform, facts.version);
  if (facts.parseAccepted === false) return { eim: false, reason: 'pfctl rejects the endpoint-independent keyword (syntax error)' };
  if (!byVersion.eim) return byVersion;
  return facts.parseAccepted === undefined ? { eim: true, reason: `${byVersion.reason} (by version; not parse-tested on this host)` } : byVersion;
}

/** The one-line rule `pfctl -nf -` is given to test the keyword (interface lo0 exists everywhere). */
export const EIM_TEST_RULE = 'nat on lo0 inet proto udp from 127.0.0.2 to any -> 127.0.0.1 port 1024:65535 endpoint-independent\n';
