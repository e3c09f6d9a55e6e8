/**
 * From observations to one report: pure, no I/O. Mapping per RFC 5780 section 4.3 (compare the
 * public endpoint the same socket gets towards A1:P1, A2:P1, A2:P2, and A1:P2), filtering per
 * section 4.4 (which CHANGE-REQUEST answers get through), hairpinning per 4.5, in RFC 4787 terms.
 */
import type { PlatformInfo } from '../platform/detect.ts';
import { canonicalIp } from '../stun/bind.ts';
import { formatStunAddress } from '../stun/codec.ts';
import type { Family, ProbeKind } from './plan.ts';
import type { FamilyReport, Filtering, Mapping, NetcheckReport, Observations, ProbeResult, ServerReport } from './types.ts';
import { verdictFor } from './verdict.ts';

type Ok = Extract<ProbeResult['outcome'], { ok: true }>;

function okResults(obs: Observations, family: Family, kinds: ProbeKind[]): (ProbeResult & { outcome: Ok })[] {
  return obs.results.filter((r): r is ProbeResult & { outcome: Ok } => r.probe.family === family && kinds.includes(r.probe.kind) && r.outcome.ok);
}

function find(obs: Observations, family: Family, kind: ProbeKind): ProbeResult | undefined {
  return obs.results.find((r) => r.probe.family === family && r.probe.kind === kind);
}

const MAPPING_KINDS: ProbeKind[] = ['binding', 'mapping-alt-ip', 'mapping-alt-both', 'mapping-alt-port'];

/** Mapping behaviour from the (destination -> public endpoint) pairs of the one mapping socket. */
export function classifyMapping(pairs: { dst: { address: string; port: number }; mapped: string }[]): { mapping: Mapping; byAddr: boolean | null; byPort: boolean | null } {
  let byAddr: boolean | null = null;
  let byPort: boolean | null = null;
  for (let i = 0; i < pairs.length; i++) {
    for (let j = i + 1; j < pairs.length; j++) {
      const a = pairs[i]!;
      const b = pairs[j]!;
      const sameIp = canonicalIp(a.dst.address) === canonicalIp(b.dst.address);
      const differs = a.mapped !== b.mapped;
      if (sameIp && a.dst.port !== b.dst.port) byPort = (byPort ?? false) || differs;
      // Address dependence is judged between destinations on the same port (A1:P1 vs A2:P1) when we
      // have them, so a port-dependent NAT is not mistaken for an address-dependent one.
      if (!sameIp && a.dst.port === b.dst.port) byAddr = (byAddr ?? false) || differs;
    }
  }
  if (byAddr === null) {
    // Only servers on different IPs and ports: we see whether the mapping varies, not by what.
    const distinctIps = new Set(pairs.map((p) => canonicalIp(p.dst.address))).size;
    if (distinctIps < 2) return { mapping: 'unknown', byAddr, byPort };
    const varies = new Set(pairs.map((p) => p.mapped)).size > 1;
    if (!varies) return { mapping: 'endpoint-independent', byAddr: false, byPort };
    return { mapping: byPort ? 'address-and-port-dependent' : 'dependent', byAddr: null, byPort };
  }
  if (!byAddr) return { mapping: byPort ? 'address-and-port-dependent' : 'endpoint-independent', byAddr, byPort };
  if (byPort === null) return { mapping: 'dependent', byAddr, byPort };
  return { mapping: byPort ? 'address-and-port-dependent' : 'address-dependent', byAddr, byPort };
}

/** Filtering per RFC 5780 section 4.4, only when the server honoured CHANGE-REQUEST. */
export function classifyFiltering(both: ProbeResult | undefined, port: ProbeResult | undefined, control: ProbeResult | undefined): Filtering {
  if (!both || !port || !control || !control.outcome.ok) return 'unknown';
  // An error answer (420) means the server cannot change address: no conclusion.
  if (!both.outcome.ok && both.outcome.reason !== 'timeout') return 'unknown';
  if (both.outcome.ok) return 'endpoint-independent';
  if (!port.outcome.ok && port.outcome.reason !== 'timeout') return 'unknown';
  return port.outcome.ok ? 'address-dependent' : 'address-and-port-dependent';
}

export function familyReport(obs: Observations, family: Family): FamilyReport {
  const sock = obs.sockets.find((s) => s.family === family);
  const tested = !!sock?.bound && obs.servers.some((s) => s.family === family);
  const mappingOk = okResults(obs, family, MAPPING_KINDS).filter((r) => r.outcome.mapped);
  const pairs = mappingOk.map((r) => ({ dst: r.probe.target, mapped: formatStunAddress({ address: canonicalIp(r.outcome.mapped!.address), port: r.outcome.mapped!.port }) }));
  const first = okResults(obs, family, ['binding']).find((r) => r.outcome.mapped);
  const publicEndpoint = first ? formatStunAddress({ address: canonicalIp(first.outcome.mapped!.address), port: first.outcome.mapped!.port }) : null;
  const local = new Set(obs.localAddresses.map(canonicalIp));
  const nat = first ? !(local.has(canonicalIp(first.outcome.mapped!.address)) && first.outcome.mapped!.port === sock?.localPort) : null;
  let { mapping, byAddr, byPort } = classifyMapping(pairs);
  if (nat === false) {
    // No translation at all is trivially endpoint-independent, even with a single server.
    mapping = 'endpoint-independent';
    byAddr = false;
    byPort = false;
  }
  const hp = find(obs, family, 'hairpin');
  return {
    tested,
    works: okResults(obs, family, ['binding']).length > 0,
    publicEndpoint,
    publicEndpoints: [...new Set(pairs.map((p) => p.mapped))],
    nat,
    mapping,
    mappingVariesByDestAddress: byAddr,
    mappingVariesByDestPort: byPort,
    filtering: classifyFiltering(find(obs, family, 'filter-change-both'), find(obs, family, 'filter-change-port'), find(obs, family, 'filter-control')),
    hairpinning: hp ? hp.outcome.ok : null,
  };
}

function serverReports(obs: Observations): ServerReport[] {
  return obs.servers.map((s, i) => {
    const r = obs.results.find((x) => x.probe.kind === 'binding' && x.probe.server === i);
    const ok = r?.outcome.ok ? r.outcome : undefined;
    return {
      server: s.label,
      address: formatStunAddress(s.endpoint),
      family: s.family,
      rttMs: ok?.rttMs !== undefined ? Math.round(ok.rttMs * 100) / 100 : null,
      rfc5780: !!ok?.otherAddress,
      otherAddress: ok?.otherAddress ? formatStunAddress(ok.otherAddress) : null,
    };
  });
}

function describe(r: ProbeResult): string {
  const o = r.outcome;
  if (!o.ok) return o.errorCode ? `${o.reason} ${o.errorCode}` : o.reason;
  const parts = [o.mapped ? `mapped ${formatStunAddress(o.mapped)}` : 'received'];
  if (o.from) parts.push(`from ${formatStunAddress(o.from)}`);
  if (o.rttMs !== undefined) parts.push(`rtt ${o.rttMs.toFixed(1)} ms`);
  return parts.join(', ');
}

/** The whole report. */
export function buildReport(obs: Observations, platform: Pick<PlatformInfo, 'kind' | 'name'>): NetcheckReport {
  const ipv4 = familyReport(obs, 4);
  const ipv6 = familyReport(obs, 6);
  const servers = serverReports(obs);
  const answered = servers.filter((s) => s.rttMs !== null).sort((a, b) => a.rttMs! - b.rttMs!);
  const pm = obs.portmap;
  const report: Omit<NetcheckReport, 'verdict'> = {
    version: 1,
    udp: ipv4.works || ipv6.works,
    ipv4,
    ipv6,
    portMapping: {
      probed: pm.upnp !== null || pm.natpmp !== null || pm.pcp !== null,
      upnp: pm.upnp,
      natpmp: pm.natpmp,
      pcp: pm.pcp,
      gateway: pm.gateway ?? null,
      externalAddress: pm.externalAddress ?? null,
      note: pm.note ?? null,
    },
    servers,
    unresolved: obs.unresolved.map((u) => ({ server: u.label, error: u.error })),
    nearestServer: answered[0]?.server ?? null,
    platform: { kind: platform.kind, name: platform.name },
    probes: obs.results.map((r) => ({ id: r.probe.id, ok: r.outcome.ok, detail: describe(r) })),
  };
  return { ...report, verdict: verdictFor(report) };
}
