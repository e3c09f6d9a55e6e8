import { routeHealthSchema, type RouteHealthSettings } from './route-health.ts';
import { udpRelaySchema, type UdpRelayConfig } from './udp-relay.ts';

/**
 * Config section `mesh`: the node's coordinator session (`conegate up`). Every `up` flag has its key
 * here, so the service runs from the config file alone. The auth key is a secret: it lives in a file
 * (`authKeyFile`, 0600) or is given once with `--auth-key`, never in this file. It is needed only for
 * the first registration; afterwards the machine key in the state directory identifies the node.
 */
export const meshSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Run the mesh node in `conegate up`.' },
    coordinator: { type: 'string', pattern: '^https://[^\\s/?#]+(/[^\\s?#]*)?$', description: 'Coordinator URL (https only).' },
    authKeyFile: { type: 'string', minLength: 1, description: 'File holding the pre-auth key (mode 0600); only the first registration needs it.' },
    hostname: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,62}$', description: 'Name in the mesh; default: this host\'s name.' },
    advertiseRoutes: { type: 'array', items: { type: 'string', format: 'cidr' }, uniqueItems: true, maxItems: 64, default: [], description: 'Subnets behind this node offered to the mesh (an admin approves them).' },
    acceptRoutes: { type: 'boolean', default: false, description: 'Route approved subnets of other nodes through the mesh.' },
    snatSubnetRoutes: {
      type: 'boolean',
      default: true,
      description: 'Source-NAT mesh traffic into the advertised subnets to this router\'s LAN address, so LAN hosts need no route back to the mesh; off: LAN hosts (or their gateway) need routes to the mesh and remote subnets via this router.',
    },
    stateDir: { type: 'string', minLength: 1, description: 'Identity keys and control socket; default: the top-level stateDir, then the platform\'s.' },
    ca: { type: 'string', minLength: 1, description: 'PEM file of the CA that signed the coordinator\'s certificate.' },
    coordinatorFingerprint: {
      type: 'string',
      pattern: '^([0-9A-Fa-f]{64}|([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$',
      description: 'SHA-256 of the coordinator\'s certificate (hex, colons allowed), pinned instead of a CA.',
    },
    controlSocket: { type: 'string', minLength: 1, description: 'Control socket path; default <stateDir>/conegate.sock.' },
    proxy: {
      type: 'string',
      minLength: 1,
      description: 'HTTP proxy for the coordinator and relay connections (CONNECT): http://[user:password@]host:port, or "none" to ignore HTTPS_PROXY; default: HTTPS_PROXY/https_proxy, with NO_PROXY honoured.',
    },
    udpRelay: { ...udpRelaySchema, default: {} },
    routeHealth: { ...routeHealthSchema, default: {} },
  },
} as const;

export interface MeshConfig {
  enabled: boolean;
  coordinator?: string;
  authKeyFile?: string;
  hostname?: string;
  advertiseRoutes: string[];
  acceptRoutes: boolean;
  snatSubnetRoutes: boolean;
  stateDir?: string;
  ca?: string;
  coordinatorFingerprint?: string;
  controlSocket?: string;
  proxy?: string;
  udpRelay: UdpRelayConfig;
  routeHealth: RouteHealthSettings;
}
