/** Config section `ips`: where to look for IPS/IDS configuration and what the mesh uses. */
export const ipsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    root: { type: 'string', minLength: 1, default: '/', description: 'Root of the file tree to inspect (a copied backup works).' },
    meshPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [41641], description: 'UDP ports the mesh uses.' },
    relayPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [443] },
  },
} as const;
