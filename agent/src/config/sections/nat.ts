/** Config section `nat`: endpoint-independent NAT for UDP on the router (pf or nftables). */
export const natSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Endpoint-independent (cone) mapping for outbound UDP. Filtering stays address-dependent.',
  properties: {
    enabled: { type: 'boolean', default: false },
    backend: { enum: ['auto', 'pf', 'nftables'], default: 'auto' },
    mode: {
      enum: ['auto', 'endpoint-independent', 'static-port', 'dynamic'],
      default: 'auto',
      description: 'auto = endpoint-independent where PF supports it, else dynamic per-socket pinning.',
    },
    wan: { type: 'array', items: { type: 'string', format: 'ifname' }, default: [], description: 'WAN interfaces; empty = all with a gateway.' },
    scope: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        sources: { type: 'array', items: { type: 'string', format: 'cidr' }, default: [], description: 'Internal hosts/subnets; empty = all LAN networks.' },
        ports: { type: 'array', items: { type: 'string', format: 'port-range' }, default: [], description: 'Internal UDP source ports; empty = all.' },
      },
    },
    pollSec: { type: 'integer', minimum: 1, maximum: 300, default: 5, description: 'Dynamic mode: how often UDP states are read (pfctl -ss).' },
    graceSec: { type: 'integer', minimum: 0, maximum: 3600, default: 30, description: 'Dynamic mode: how long a pin outlives the last state of its socket.' },
    healthCommand: { type: 'string', minLength: 1, description: 'Shell command run during the grace period after apply; exit 0 confirms. Without it, confirm with `conegate pf confirm`.' },
    confirmSec: { type: 'integer', minimum: 10, maximum: 3600, default: 60, description: 'Grace period: apply rolls back unless the health check passes in this time.' },
  },
} as const;
