/**
 * Config section `web`: the agent's own page on UniFi and Linux (agent/src/web). On OPNsense and
 * pfSense the appliance's GUI hosts the page and reaches the agent over its control socket, so the
 * agent opens no TCP listener there unless this section says so.
 */
export const webSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'The agent\'s own web page (UniFi, Linux). Token login, loopback by default.',
  properties: {
    enabled: {
      type: 'boolean',
      description: 'Serve the page from `conegate up`. Unset: on for UniFi OS and Linux, off on OPNsense, pfSense and FreeBSD (their GUI hosts the page).',
    },
    listen: { type: 'string', format: 'host-port', default: '127.0.0.1:8380', description: 'Address:port to listen on; loopback by default, a LAN address to reach it from the LAN.' },
    allowedHosts: {
      type: 'array',
      maxItems: 32,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' },
      default: [],
      description: 'Extra Host header values accepted (names or name:port), besides the listen address and localhost; any other Host is refused (DNS rebinding).',
    },
    tokenFile: { type: 'string', minLength: 1, description: 'The login token (0600); default <stateDir>/web.token. `conegate web token` prints it.' },
    tlsCert: { type: 'string', minLength: 1, description: 'PEM certificate: serve HTTPS (the session cookie is then Secure). Needs tlsKey.' },
    tlsKey: { type: 'string', minLength: 1, description: 'PEM private key for tlsCert.' },
  },
  dependencies: { tlsCert: ['tlsKey'], tlsKey: ['tlsCert'] },
} as const;

export interface WebConfig {
  enabled?: boolean;
  listen: string;
  allowedHosts: string[];
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
}
