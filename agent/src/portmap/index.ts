/**
 * The upstream port-mapping client: what other areas import. netcheck calls probePortmapServices();
 * the mesh layer runs a Portmapper from config and listens for 'endpointChanged'.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock/clock.ts';
import type { PortmapConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import { defaultGateway } from './gateway.ts';
import type { MapWant } from './machine.ts';
import { Portmapper, type PortmapperOptions } from './portmapper.ts';

import { probePortmapServices, type PortmapProbeOptions } from './probe.ts';

export { probePortmapServices, type PortmapProbeOptions, type PortmapProbeResult } from './probe.ts';
export { Portmapper, type EndpointChange, type PortmapperOptions, type PortmapperDeps } from './portmapper.ts';
export type { Endpoint, MapWant, Mapping, Via } from './machine.ts';

/** A Portmapper for `want` built from the `portmap` config section; the gateway defaults to the default route's. */
export async function createPortmapper(
  config: PortmapConfig,
  want: Omit<MapWant, 'lifetimeSec'> & { lifetimeSec?: number },
  deps: { clock: Clock; log: Logger },
  overrides: Partial<PortmapperOptions> = {},
): Promise<Portmapper> {
  const gateway = overrides.gateway ?? config.gateway ?? (await defaultGateway());
  const opts: PortmapperOptions = {
    gateway,
    order: config.protocols,
    want: { ...want, lifetimeSec: want.lifetimeSec ?? config.lifetimeSec },
    probeTimeoutMs: config.probeTimeoutMs,
    announce: config.announcements ? {} : false,
    ...overrides,
  };
  if (config.renewAfterSec !== undefined) opts.timing = { renewAfterMs: config.renewAfterSec * 1000, ...overrides.timing };
  return new Portmapper(opts, { ...deps, random: Math.random, randomBytes: (n) => new Uint8Array(randomBytes(n)) });
}

/** The shape netcheck's PortmapProbe returns (agent/src/netcheck/portmap-probe.ts): null = not probed. */
export interface NetcheckPortmapResult {
  upnp: boolean | null;
  natpmp: boolean | null;
  pcp: boolean | null;
  gateway?: string;
  externalAddress?: string;
  note?: string;
}

/**
 * netcheck's PortmapProbe over probePortmapServices: never rejects (no gateway becomes "not probed"
 * with a note) and settles soon after `signal` aborts. Wire it in the netcheck command as
 * `portmap: netcheckPortmapProbe({ gateway: config.portmap.gateway, protocols: config.portmap.protocols })`.
 */
export function netcheckPortmapProbe(opts: Omit<PortmapProbeOptions, 'signal'> = {}): { probe(signal: AbortSignal): Promise<NetcheckPortmapResult> } {
  return {
    async probe(signal) {
      try {
        const r = await probePortmapServices({ ...opts, signal });
        const out: NetcheckPortmapResult = { upnp: r.upnp, natpmp: r.natpmp, pcp: r.pcp, gateway: r.gateway };
        if (r.externalAddress) out.externalAddress = r.externalAddress;
        const absent = Object.entries(r.errors).map(([via, why]) => `${via}: ${why}`);
        if (absent.length > 0) out.note = absent.join('; ');
        return out;
      } catch (err) {
        return { upnp: null, natpmp: null, pcp: null, note: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}
