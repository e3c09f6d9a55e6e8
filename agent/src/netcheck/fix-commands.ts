/**
 * Every fix netcheck can print, for tests that hold each `conegate ...` command in it to "works
 * exactly as printed": verdictFor over every level, mapping and platform, with and without the hints.
 */
import type { PlatformKind } from '../platform/detect.ts';
import type { FamilyReport, Mapping, NetcheckReport } from './types.ts';
import { verdictFor, type VerdictHints } from './verdict.ts';

const PLATFORMS: PlatformKind[] = ['opnsense', 'pfsense', 'freebsd', 'unifi', 'linux', 'unknown'];
const MAPPINGS: Mapping[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent', 'dependent', 'unknown'];

function family(mapping: Mapping, works: boolean): FamilyReport {
  return { tested: true, works, publicEndpoint: works ? '198.51.100.7:40000' : null, publicEndpoints: [], nat: true, mapping, mappingVariesByDestAddress: null, mappingVariesByDestPort: null, filtering: 'address-and-port-dependent', hairpinning: false };
}

function report(kind: PlatformKind, mapping: Mapping, udp: boolean, servers: number): Omit<NetcheckReport, 'verdict'> {
  return {
    version: 1,
    udp,
    ipv4: family(mapping, udp),
    ipv6: family(mapping, udp),
    portMapping: { probed: true, upnp: true, natpmp: true, pcp: true, gateway: '192.168.1.1', externalAddress: null, note: null },
    servers: Array.from({ length: servers }, (_, i) => ({ server: `203.0.113.${i + 1}:3478`, address: `203.0.113.${i + 1}:3478`, family: 4 as const, rttMs: 5, rfc5780: false, otherAddress: null })),
    unresolved: [],
    nearestServer: null,
    platform: { kind, name: kind },
    probes: [],
  };
}

/** Every distinct fix text for these hints. */
export function allFixes(hints: VerdictHints): string[] {
  const out = new Set<string>();
  for (const kind of PLATFORMS) {
    for (const mapping of MAPPINGS) {
      for (const [udp, servers] of [[true, 2], [false, 2], [false, 0]] as const) {
        const v = verdictFor(report(kind, mapping, udp, servers), hints);
        for (const f of [...v.fixes, ...(v.applianceFix ? [v.applianceFix] : [])]) out.add(f);
      }
    }
  }
  return [...out];
}

/**
 * The conegate commands in a fix: "conegate" followed by a real top-level command, up to the end of
 * the text or a separator (comma, semicolon, parenthesis). Prose never follows "conegate" with a
 * command name, so nothing else is taken for a command.
 */
export function commandsIn(fix: string, commandNames: string[]): string[][] {
  const out: string[][] = [];
  for (const m of fix.matchAll(/\bconegate ([^,;()]+)/g)) {
    const words = m[1]!.trim().split(/\s+/);
    if (commandNames.includes(words[0]!)) out.push(words);
  }
  return out;
}
