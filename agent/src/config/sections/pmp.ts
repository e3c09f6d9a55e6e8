/** Config section `pmp`: the NAT-PMP / PCP server for LAN clients (RFC 6886 / RFC 6887). */
export const pmpSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'NAT-PMP and PCP server for LAN clients. Off by default; safe defaults when on.',
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Serve NAT-PMP/PCP on the LAN interfaces.' },
    lan: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'LAN interfaces or IPv4 addresses (ADDR or ADDR/LEN) to listen on (UDP 5351).',
    },
    wan: { type: 'string', format: 'ifname', description: 'WAN interface whose IPv4 address is the public address, or that address itself.' },
    backend: { enum: ['auto', 'nftables', 'pf', 'memory'], default: 'auto', description: 'Firewall backend for mappings.' },
    allow: {
      type: 'array',
      items: { type: 'string', format: 'cidr' },
      default: [],
      description: 'Client subnets allowed to ask; empty = the LAN interfaces\' own subnets.',
    },
    internalPorts: { type: 'string', format: 'port-range', default: '1024-65535', description: 'Internal ports a mapping may target.' },
    externalPorts: { type: 'string', format: 'port-range', default: '1024-65535', description: 'External ports a mapping may use.' },
    allowPrivilegedPorts: { type: 'boolean', default: false, description: 'Allow internal/external ports below 1024. Off: NOT_AUTHORIZED.' },
    reservedExternalPorts: {
      type: 'array',
      items: { type: 'integer', minimum: 1, maximum: 65535 },
      default: [],
      description: 'External ports never handed out, besides 5350, 5351 and wg.listenPort (the router\'s own services).',
    },
    maxMappingsPerClient: { type: 'integer', minimum: 1, maximum: 65535, default: 16 },
    maxLifetimeSec: { type: 'integer', minimum: 60, maximum: 604800, default: 7200, description: 'Granted lifetimes are capped to this.' },
    minLifetimeSec: { type: 'integer', minimum: 1, maximum: 3600, default: 120, description: 'Shorter requested lifetimes are raised to this (RFC 6887 15).' },
    allowThirdParty: { type: 'boolean', default: false, description: 'Honour PCP THIRD_PARTY (mappings for another host). Off: NOT_AUTHORIZED.' },
    meshPortOnly: { type: 'boolean', default: false, description: 'Only allow mappings for the mesh\'s own UDP port.' },
    requestsPerClientPerSec: { type: 'integer', minimum: 1, maximum: 1000000, default: 20, description: 'Rate limit; excess requests are dropped.' },
    stateFile: { type: 'string', minLength: 1, description: 'Where mappings and the epoch persist (default: <stateDir>/pmp-state.json).' },
  },
} as const;
