/**
 * Builds the PageModel (model.ts) from what the agent knows: its status (mesh peers and paths), the
 * NAT-PMP/PCP table, the last netcheck, the IPS findings, the NAT rules with their confirm state and
 * the settings state. Pure: every input is passed in, wall time included, so the same inputs give the
 * same page (the tests compare whole models). No secrets reach the page: public fields only (no PCP
 * nonces, no keys but public ones, no token).
 */
import type { Finding } from '../ips/findings.ts';
import type { NetcheckReport } from '../netcheck/types.ts';
import type { MeshStatus, PeerView } from '../service/mesh-status.ts';
import type { PageFinding, PageMapping, PageModel, PagePeer, PageTransport } from './model.ts';
import type { RttHistory } from './rtt-history.ts';

/** A mapping as the pmp component lists it (nonce removed, lifetime as seconds left). */
export interface MappingView {
  via: 'pmp' | 'pcp';
  client: string;
  transport: 'udp' | 'tcp';
  internalAddress: string;
  internalPort: number;
  externalPort: number;
  remainingSec: number;
}

export interface NatState {
  enabled: boolean;
  backend: 'nft' | 'pf' | null;
  /** The rules text in force ('' when none). */
  rules: string;
  pending: { deadlineWallMs: number } | null;
  appliedAtWallMs: number | null;
}

export interface SettingsState {
  pending: boolean;
  appliedAtWallMs: number | null;
  restartNeeded: string[];
}

export interface PageInputs {
  version: string;
  nowWallMs: number;
  platform: PageTransport['platform'];
  coordinator: string | null;
  mesh: MeshStatus | null;
  rtt: RttHistory;
  pmp: { epochSec: number; mappings: MappingView[] } | null;
  netcheck: { atWallMs: number; report: NetcheckReport } | null;
  /** The upstream gateway's epoch for the mesh port's mapping (the running portmap, not the netcheck probe). */
  portmapEpochSec?: number | null;
  ips: Finding[];
  nat: NatState;
  settings: SettingsState;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The page's stable id of a mapping; `pmp-delete` takes the same three parts. */
export function mappingPageId(client: string, protocol: 'udp' | 'tcp', internalPort: number): string {
  return `${client}/${protocol}/${internalPort}`;
}

function relayOf(p: PeerView, mesh: MeshStatus): PagePeer['relay'] {
  // The relay the peer's packets take as status names it (server included), else the home region's server.
  if (p.relay?.kind === 'tcp') return { region: p.relay.region, server: p.relay.server };
  if (p.path?.kind !== 'tcp-relay' || p.path.region === null) return null;
  const region = p.path.region;
  return { region, server: mesh.relay?.regions.find((r) => r.id === region)?.server ?? null };
}

export function pagePeer(p: PeerView, mesh: MeshStatus, rtt: RttHistory): PagePeer {
  const path = p.path;
  return {
    id: p.id,
    name: p.name,
    addresses: p.addresses,
    online: p.online,
    path: path?.kind ?? 'none',
    endpoint: path && (path.kind === 'direct' || path.kind === 'udp-relay') ? path.endpoint : null,
    relay: relayOf(p, mesh),
    rttMs: path?.rttMs ?? null,
    lastHandshake: p.lastHandshake,
    rxBytes: p.rxBytes,
    txBytes: p.txBytes,
    forSec: path?.forSec ?? null,
    reason: path && path.kind !== 'direct' && path.reason ? { code: path.reason.code, text: path.reason.text } : null,
    events: path?.events ?? [],
    rttHistory: rtt.get(p.id),
  };
}

export function pageMappings(pmp: PageInputs['pmp']): PageModel['mappings'] {
  if (!pmp) return null;
  const items: PageMapping[] = pmp.mappings
    .map((m) => ({ id: mappingPageId(m.client, m.transport, m.internalPort), client: m.client, protocol: m.transport, internalPort: m.internalPort, externalPort: m.externalPort, lifetimeSec: m.remainingSec, via: m.via === 'pmp' ? ('nat-pmp' as const) : ('pcp' as const) }))
    .sort((a, b) => a.client.localeCompare(b.client) || a.protocol.localeCompare(b.protocol) || a.internalPort - b.internalPort);
  return { epochSec: pmp.epochSec, items };
}

const SEVERITY = { blocks: 'block', 'may-block': 'warn', 'alert-only': 'info' } as const;

/** The menu path of the first fix step ("Services > Intrusion Detection > Administration > Rules"): where to click. */
export function whereOf(fix: string[]): string {
  for (const step of fix) {
    const m = /(?:^|[:.] |Or )((?:UniFi Network|Services) > [^:]+?)(?::|$)/.exec(step);
    if (m) return m[1]!.trim();
  }
  return '';
}

export function pageFinding(f: Finding): PageFinding {
  const rule = f.sid !== undefined ? `SID ${f.sid}` : (f.category ?? f.source);
  return {
    id: `${f.engine}/${f.interface}/${f.sid ?? f.category ?? f.source}`,
    severity: SEVERITY[f.severity],
    title: `${f.engine} on ${f.interface}: ${rule}${f.msg ? ` "${f.msg}"` : ''} (${f.action}): ${f.why}`,
    fix: f.fix.join('\n'),
    where: whereOf(f.fix),
  };
}

function relayLatency(mesh: MeshStatus | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of mesh?.relay?.regions ?? []) if (r.latencyMs !== undefined) out[r.id] = Math.round(r.latencyMs * 10) / 10;
  return out;
}

export function pageNetcheck(nc: PageInputs['netcheck'], mesh: MeshStatus | null, portmapEpochSec: number | null = null): PageModel['netcheck'] {
  if (!nc) return null;
  const r = nc.report;
  const pm = r.portMapping;
  const protocol = pm.pcp ? 'pcp' : pm.natpmp ? 'nat-pmp' : pm.upnp ? 'upnp' : null;
  return {
    at: new Date(nc.atWallMs).toISOString(),
    mapping: r.ipv4.mapping,
    filtering: r.ipv4.filtering,
    hairpin: r.ipv4.hairpinning,
    ipv6: r.ipv6.works,
    portMapping: { protocol, externalAddress: pm.externalAddress, epoch: portmapEpochSec },
    relayLatencyMs: relayLatency(mesh),
  };
}

export function buildPageModel(i: PageInputs): PageModel {
  const mesh = i.mesh;
  return {
    version: i.version,
    generatedAt: new Date(i.nowWallMs).toISOString(),
    self: { name: mesh?.self.name ?? null, addresses: mesh?.self.addresses ?? [], interface: mesh?.self.interface ?? null, listenPort: mesh?.self.listenPort ?? null, coordinator: i.coordinator ?? '' },
    peers: mesh ? mesh.peers.map((p) => pagePeer(p, mesh, i.rtt)).sort((a, b) => a.name.localeCompare(b.name)) : [],
    mappings: pageMappings(i.pmp),
    netcheck: pageNetcheck(i.netcheck, mesh, i.portmapEpochSec ?? null),
    ips: i.ips.map(pageFinding),
    nat: { enabled: i.nat.enabled, backend: i.nat.backend, rules: i.nat.rules, pending: i.nat.pending ? { revertAt: new Date(i.nat.pending.deadlineWallMs).toISOString() } : null, appliedAt: iso(i.nat.appliedAtWallMs) },
    settings: { pending: i.settings.pending, appliedAt: iso(i.settings.appliedAtWallMs), restartNeeded: i.settings.restartNeeded },
  };
}

/** The RTT of every peer right now, for RttHistory.sample. */
export function currentRtts(mesh: MeshStatus | null): Map<string, number | null> {
  return new Map((mesh?.peers ?? []).map((p) => [p.id, p.path?.rttMs ?? null]));
}

/** Compares two models ignoring generatedAt and seconds-left counters: the SSE stream pushes only real changes. */
export function pageFingerprint(m: PageModel): string {
  return JSON.stringify({ ...m, generatedAt: '', peers: m.peers.map((p) => ({ ...p, forSec: null, rttHistory: p.rttHistory.length ? p.rttHistory[p.rttHistory.length - 1] : null })), mappings: m.mappings && { ...m.mappings, epochSec: 0, items: m.mappings.items.map((x) => ({ ...x, lifetimeSec: 0 })) }, netcheck: m.netcheck && { ...m.netcheck, portMapping: { ...m.netcheck.portMapping, epoch: m.netcheck.portMapping.epoch === null ? null : 0 } } });
}
