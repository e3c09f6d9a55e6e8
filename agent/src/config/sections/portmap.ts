/** Config section `portmap`: the upstream port-mapping client (UPnP IGD, NAT-PMP, PCP). */
export const portmapSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    protocols: {
      type: 'array',
      items: { enum: ['pcp', 'natpmp', 'upnp'] },
      uniqueItems: true,
      default: ['pcp', 'natpmp', 'upnp'],
      description: 'Order in which upstream mapping protocols are tried.',
    },
    gateway: { type: 'string', format: 'ip', description: 'Upstream gateway address; default: the default route\'s gateway.' },
    lifetimeSec: { type: 'integer', minimum: 120, maximum: 86400, default: 7200 },
    renewAfterSec: {
      type: 'integer',
      minimum: 1,
      maximum: 43200,
      description: 'Renew after this many seconds when that is sooner than half the granted lifetime (tests; gateways that expire mappings early). Default: half the lifetime; the mesh port under `conegate up` at most every 60 s (each renewal checks the gateway\'s epoch).',
    },
    probeTimeoutMs: { type: 'integer', minimum: 100, maximum: 30000, default: 2000, description: 'Budget for probing each protocol, and for each UPnP HTTP exchange.' },
    announcements: { type: 'boolean', default: true, description: 'Listen on 224.0.0.1:5350 for the gateway\'s NAT-PMP/PCP announcements (re-map at once after a gateway reboot).' },
  },
} as const;
