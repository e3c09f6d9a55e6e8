/**
 * The page model: everything the router's conegate page shows, as plain JSON. One model for three
 * hosts: the agent's own web server (UniFi, Linux), the OPNsense MVC page and the pfSense PHP page. The
 * appliance pages reach it through the agent's unix control socket (command `page`), never through a TCP
 * listener; the agent's own page through `GET /api/v1/page` and server-sent events. The same front-end
 * bundle renders it on every host; only the transport differs (see PageTransport).
 *
 * This file is the contract between the agent side (control commands, web server) and the front-end.
 * Change it only additively.
 */

/** How the front-end reaches the agent on this host; written into the page as JSON by the host. */
export interface PageTransport {
  host: 'agent' | 'opnsense' | 'pfsense';
  /**
   * The base the front-end calls: `${base}/page`, `${base}/events`, `${base}/pmp/delete`, `${base}/settings`,
   * `${base}/nat/apply`, `${base}/nat/confirm`, `${base}/nat/revert`. On OPNsense an MVC API controller
   * (`/api/conegate/agent`), on pfSense the package's PHP (`/conegate/api.php?r=`), on the agent `/api/v1`.
   */
  base: string;
  /** `sse`: `${base}/events` streams `page` events; `poll`: GET `${base}/page` every pollMs. */
  live: 'sse' | 'poll';
  pollMs: number;
  /** Header the host needs on writes (pfSense's and OPNsense's CSRF token); absent on the agent. */
  csrf?: { header: string; token: string };
  /** Where the admin clicks on this appliance, used in fix texts ("Services > Intrusion Detection > ..."). */
  platform: 'opnsense' | 'pfsense' | 'unifi' | 'linux';
}

export type PagePathKind = 'direct' | 'udp-relay' | 'tcp-relay' | 'none';

export interface PagePeer {
  id: string;
  name: string;
  addresses: string[];
  online: boolean;
  path: PagePathKind;
  /** Endpoint in use: the peer's ip:port when direct, the relay node's ip:port on a UDP relay. */
  endpoint: string | null;
  /** The TCP relay's region (and server) when on the TCP relay. */
  relay: { region: string; server: string | null } | null;
  rttMs: number | null;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
  /** Seconds on the current path. */
  forSec: number | null;
  /** Why not direct (null when direct). */
  reason: { code: string; text: string } | null;
  /** Path changes and other events, newest last, wall-clock ISO times. */
  events: { at: string; text: string }[];
  /** Recent RTT samples for the latency chart: [unix seconds, ms or null]. Bounded (e.g. 300). */
  rttHistory: [number, number | null][];
}

export interface PageMapping {
  /** Stable id for delete: `${client}/${protocol}/${internalPort}`. */
  id: string;
  client: string;
  protocol: 'udp' | 'tcp';
  internalPort: number;
  externalPort: number;
  /** Seconds left. */
  lifetimeSec: number;
  /** NAT-PMP / PCP. */
  via: 'nat-pmp' | 'pcp';
}

export interface PageFinding {
  id: string;
  severity: 'block' | 'warn' | 'info';
  title: string;
  /** The exact fix (rule text, setting) and where to click on this appliance. */
  fix: string;
  where: string;
}

export interface PageModel {
  version: string;
  generatedAt: string;
  self: { name: string | null; addresses: string[]; interface: string | null; listenPort: number | null; coordinator: string };
  peers: PagePeer[];
  /** Our NAT-PMP/PCP server (null when disabled). */
  mappings: { epochSec: number; items: PageMapping[] } | null;
  /** The last netcheck as structured data (null before the first). */
  netcheck: {
    at: string;
    mapping: string;
    filtering: string;
    hairpin: boolean | null;
    ipv6: boolean;
    portMapping: { protocol: string | null; externalAddress: string | null; epoch: number | null };
    relayLatencyMs: Record<string, number>;
  } | null;
  ips: PageFinding[];
  /** The NAT rules in force and the confirm-or-revert state. */
  nat: { enabled: boolean; backend: 'nft' | 'pf' | null; rules: string; pending: { revertAt: string } | null; appliedAt: string | null };
  /** Settings: the config the agent runs with, the change pending (needs a restart) and when applied. */
  settings: { pending: boolean; appliedAt: string | null; restartNeeded: string[] };
}
