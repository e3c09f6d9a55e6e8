/** Config section `wg`: the WireGuard data plane. */
export const wgSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    interface: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$', default: 'cg0' },
    listenPort: { type: 'integer', minimum: 0, maximum: 65535, default: 41641 },
    privateKeyFile: { type: 'string', minLength: 1, description: 'File holding the base64 private key (mode 0600).' },
    addresses: { type: 'array', items: { type: 'string', format: 'cidr-loose' }, default: [] },
    mtu: { type: 'integer', minimum: 1280, maximum: 9000, default: 1420 },
  },
} as const;
