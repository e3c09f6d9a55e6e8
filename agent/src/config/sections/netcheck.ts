/** Config section `netcheck`: STUN servers and probe budget. */
export const netcheckSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stunServers: {
      type: 'array',
      items: { type: 'string', format: 'host-port' },
      default: [],
      description: 'STUN servers (host:port). Two or more with distinct addresses are needed to classify mapping behaviour.',
    },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 3000 },
  },
} as const;
