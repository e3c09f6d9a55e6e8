/**
 * Which port-mapping services the upstream gateway offers: one short probe per protocol, all at
 * once, within a time budget. Used by the Portmapper (to pick a protocol), by `conegate portmap
 * probe` and by netcheck (its "port-mapping services upstream" line).
 */
import { realClock, type Clock } from '../clock/clock.ts';
import { defaultGateway } from './gateway.ts';
import type { Via } from './machine.ts';
import { natpmpExternalAddress } from './natpmp.ts';
import { pcpAnnounce } from './pcp.ts';
import { natpmpSchedule, pcpSchedule, truncateSchedule } from './schedule.ts';
import { discoverUpnp, upnpExternalAddress, type UpnpGateway } from './upnp/client.ts';

/** Ports of the gateway's services; tests point them at a fake on ephemeral ports. */
export interface GatewayPorts {
  /** NAT-PMP and PCP server port (5351). */
  pmp?: number;
  /** SSDP port (1900). */
  ssdp?: number;
}

export interface PortmapProbeOptions {
  /** Default: the default route's gateway. */
  gateway?: string;
  /** Budget for the whole probe (default 2000 ms); each protocol gets all of it, in parallel. */
  timeoutMs?: number;
  /** Which to probe (default all three). */
  protocols?: Via[];
  ports?: GatewayPorts;
  clock?: Clock;
  signal?: AbortSignal;
}

export interface PortmapProbeResult {
  gateway: string;
  upnp: boolean;
  natpmp: boolean;
  pcp: boolean;
  /** The gateway's external (WAN) IPv4, from NAT-PMP or UPnP GetExternalIPAddress. */
  externalAddress?: string;
  /** Our LAN address towards the gateway. */
  localAddress?: string;
  natpmpEpochSec?: number;
  pcpEpochSec?: number;
  upnpDevice?: { location: string; serviceType: string; controlUrl: string; friendlyName?: string; modelName?: string };
  /** Why each protocol that is false was judged absent (timeout, refused, error text). */
  errors: Partial<Record<Via, string>>;
  durationMs: number;
}

export interface ProbeOne {
  ok: boolean;
  externalAddress?: string;
  epochSec?: number;
  localAddress?: string;
  upnp?: UpnpGateway;
  error?: string;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Probes one protocol; never throws (absence is a result, not an error). */
export async function probeOne(via: Via, gateway: string, opts: { timeoutMs: number; ports?: GatewayPorts; clock?: Clock; signal?: AbortSignal; random?: () => number }): Promise<ProbeOne> {
  const common = { gateway, clock: opts.clock, signal: opts.signal };
  try {
    if (via === 'natpmp') {
      const r = await natpmpExternalAddress({ ...common, port: opts.ports?.pmp, schedule: truncateSchedule(natpmpSchedule(), opts.timeoutMs) });
      return { ok: true, externalAddress: r.externalAddress, epochSec: r.epochSec, localAddress: r.localAddress };
    }
    if (via === 'pcp') {
      // RFC 6887 8.1.1's 3 s IRT would leave a 2 s probe a single packet; a probe uses MRD = its budget
      // with the NAT-PMP spacing, still only a handful of packets.
      const r = await pcpAnnounce({ ...common, port: opts.ports?.pmp, schedule: truncateSchedule(natpmpSchedule(4, 500), opts.timeoutMs) });
      return { ok: true, epochSec: r.epochSec };
    }
    const gw = await discoverUpnp({ ...common, ssdpPort: opts.ports?.ssdp, timeoutMs: opts.timeoutMs });
    const out: ProbeOne = { ok: true, upnp: gw, localAddress: gw.localAddress };
    const addr = await upnpExternalAddress(gw, { timeoutMs: opts.timeoutMs, clock: opts.clock, signal: opts.signal }).catch(() => '');
    if (addr) out.externalAddress = addr;
    return out;
  } catch (err) {
    return { ok: false, error: errText(err) };
  }
}

/**
 * Probes UPnP IGD, NAT-PMP and PCP on the gateway in parallel. Resolves within about timeoutMs (plus
 * one HTTP timeout for UPnP's description fetch); never rejects for an absent service, only when no
 * gateway is known.
 */
export async function probePortmapServices(opts: PortmapProbeOptions = {}): Promise<PortmapProbeResult> {
  const clock = opts.clock ?? realClock;
  const started = clock.nowMs();
  const gateway = opts.gateway ?? (await defaultGateway());
  const timeoutMs = opts.timeoutMs ?? 2000;
  const protocols = opts.protocols ?? ['pcp', 'natpmp', 'upnp'];
  const results = await Promise.all(protocols.map(async (via) => [via, await probeOne(via, gateway, { timeoutMs, ports: opts.ports, clock, signal: opts.signal })] as const));
  const out: PortmapProbeResult = { gateway, upnp: false, natpmp: false, pcp: false, errors: {}, durationMs: 0 };
  for (const [via, r] of results) {
    out[via] = r.ok;
    if (!r.ok) out.errors[via] = r.error ?? 'no answer';
    if (r.externalAddress && (out.externalAddress === undefined || via === 'natpmp')) out.externalAddress = r.externalAddress;
    if (r.localAddress && !out.localAddress) out.localAddress = r.localAddress;
    if (via === 'natpmp' && r.epochSec !== undefined) out.natpmpEpochSec = r.epochSec;
    if (via === 'pcp' && r.epochSec !== undefined) out.pcpEpochSec = r.epochSec;
    if (r.upnp) {
      const s = r.upnp.service;
      out.upnpDevice = { location: r.upnp.location, serviceType: s.serviceType, controlUrl: s.controlUrl };
      if (s.friendlyName) out.upnpDevice.friendlyName = s.friendlyName;
      if (s.modelName) out.upnpDevice.modelName = s.modelName;
    }
  }
  out.durationMs = Math.round(clock.nowMs() - started);
  return out;
}
