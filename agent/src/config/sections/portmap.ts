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
  },
} as const;
