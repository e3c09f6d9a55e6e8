/**
 * What netcheck needs from the port-mapping client (agent/src/portmap/): which services answer
 * upstream. netcheck takes a PortmapProbe as a dependency so it never imports the client; the CLI
 * wires the real probe, tests pass a fake, and until the client exists the stub reports "not probed".
 */

/** true = the service answered, false = probed and absent, null = not probed. */
export type ServiceSeen = boolean | null;

export interface PortmapProbeResult {
  /** UPnP IGD (SSDP discovery answered and a WAN*Connection service found). */
  upnp: ServiceSeen;
  /** NAT-PMP (RFC 6886) answered the public-address request. */
  natpmp: ServiceSeen;
  /** PCP (RFC 6887) answered (an ANNOUNCE or MAP response of version 2). */
  pcp: ServiceSeen;
  /** The router that answered (IP), if any. */
  gateway?: string;
  /** The external address the router reported, if any. */
  externalAddress?: string;
  /** Why probing failed or was skipped, for the report. */
  note?: string;
}

export interface PortmapProbe {
  /** Probes once; must settle soon after signal aborts (netcheck aborts it at its own timeout). */
  probe(signal: AbortSignal): Promise<PortmapProbeResult>;
}

/** The stand-in until the port-mapping client is wired: reports every service as not probed. */
export const notProbedPortmap: PortmapProbe = {
  probe: async () => ({ upnp: null, natpmp: null, pcp: null, note: 'port-mapping probe not available in this build' }),
};
