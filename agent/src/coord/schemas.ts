/**
 * JSON Schemas for every coordinator body (protocol.ts types), compiled by ajv: fastify validates
 * requests with them on the coordinator, the node validates stream messages with the same ones.
 * Strict on purpose: unknown properties are refused (a typo must not be silently ignored), nothing is
 * coerced, every string and array has a bound (a body can be at most LIMITS.maxBodyBytes anyway, but
 * bounds keep the store and every peer's map small).
 */
import { isIp, parseCidr, parseHostPort } from '../net/ip.ts';
import { LIMITS } from './protocol.ts';

/** Custom ajv formats the schemas below use (register with `new Ajv({ formats: COORD_FORMATS })`). */
export const COORD_FORMATS = {
  /** Prefix length given and host bits zero, as the admin approves exactly what the node advertised. */
  cidr: (v: string) => v.includes('/') && parseCidr(v) !== undefined,
  /** An endpoint is an address a peer can send to: a literal IP, never a name (no DNS in the data path). */
  'ip-port': (v: string) => {
    const hp = parseHostPort(v);
    return hp !== undefined && isIp(hp.host);
  },
};

const key = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const cidr = { type: 'string', format: 'cidr', maxLength: 43 } as const;
const cidrList = (max: number) => ({ type: 'array', maxItems: max, uniqueItems: true, items: cidr }) as const;
/** A DNS-label-like host name; the coordinator lowercases it and makes it unique. */
const hostname = { type: 'string', minLength: 1, maxLength: LIMITS.maxHostnameLength, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' } as const;
const relayId = { type: 'string', minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$' } as const;

export const endpointSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['addr', 'type'],
  properties: {
    addr: { type: 'string', format: 'ip-port', maxLength: 64 },
    type: { enum: ['local', 'stun', 'portmap', 'stun-localport', 'configured'] },
  },
} as const;

export const registerRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeKey', 'discoKey', 'hostname'],
  properties: {
    authKey: { type: 'string', minLength: 1, maxLength: 200 },
    nodeKey: key,
    discoKey: key,
    hostname,
    advertiseRoutes: cidrList(LIMITS.maxRoutes),
  },
} as const;

export const endpointsRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoints'],
  properties: {
    endpoints: { type: 'array', maxItems: LIMITS.maxEndpoints, items: endpointSchema },
    homeRelay: { anyOf: [relayId, { type: 'null' }] },
    udpRelay: { type: 'string', format: 'ip-port', maxLength: 64 },
  },
} as const;

export const routesRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['advertise'],
  properties: { advertise: cidrList(LIMITS.maxRoutes) },
} as const;

export const routeHealthRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['unhealthy'],
  properties: { unhealthy: cidrList(LIMITS.maxRoutes) },
} as const;

export const mapQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$' } },
} as const;

export const errorBodySchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

// The map stream, as the node checks every line (node/map-message.ts) and the coordinator's tests check
// what it sends: one schema for both sides. Bounds are looser than the requests' (a newer coordinator
// may merge more endpoints or use longer ids; a map the node refuses costs a full resync), while what
// reaches the WireGuard device stays strict: hex keys, IP literals with ports, CIDRs.
const streamEndpoint = { type: 'object', required: ['addr', 'type'], properties: endpointSchema.properties } as const;
const streamCidrList = { type: 'array', maxItems: 1024, items: { type: 'string', format: 'cidr-host' } } as const;
const peerProps = {
  id: { type: 'string', minLength: 1, maxLength: 128 },
  name: { type: 'string', maxLength: 255 },
  nodeKey: key,
  discoKey: key,
  addresses: streamCidrList,
  routes: streamCidrList,
  endpoints: { type: 'array', maxItems: LIMITS.maxEndpoints * 4, items: streamEndpoint },
  homeRelay: { anyOf: [relayId, { type: 'null' }] },
  online: { type: 'boolean' },
  lastSeenMs: { type: 'number', minimum: 0 },
  udpRelay: { type: 'string', format: 'ip-port', maxLength: 64 },
} as const;

// udpRelay came later: a peer without it offers no UDP relay.
const peerSchema = { type: 'object', required: Object.keys(peerProps).filter((k) => k !== 'udpRelay'), properties: peerProps } as const;
const patchSchema = { type: 'object', required: ['id'], properties: peerProps } as const;
const selfProps = {
  id: peerProps.id,
  name: peerProps.name,
  machineKey: key,
  nodeKey: key,
  discoKey: key,
  addresses: peerProps.addresses,
  advertisedRoutes: peerProps.routes,
  approvedRoutes: peerProps.routes,
  tags: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } },
} as const;
const relayMapSchema = {
  type: 'object',
  required: ['regions'],
  properties: {
    regions: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        required: ['id', 'name', 'nodes'],
        properties: {
          id: relayId,
          name: { type: 'string', maxLength: 128 },
          nodes: {
            type: 'array',
            maxItems: 32,
            items: {
              type: 'object',
              required: ['url'],
              properties: { url: { type: 'string', pattern: '^https://', maxLength: 512 }, stun: { type: 'string', format: 'host-port' }, certSha256: key, serverKey: key },
            },
          },
        },
      },
    },
  },
} as const;

/**
 * One stream line as the node checks it. Extra properties are allowed here (a newer coordinator may
 * add fields; an older node must keep working), unlike requests, which the coordinator checks strictly.
 */
export const mapMessageSchema = {
  oneOf: [
    {
      type: 'object',
      required: ['t', 'seq', 'self', 'peers', 'relays', 'keepaliveSec'],
      properties: {
        t: { const: 'full' },
        seq: { type: 'integer', minimum: 0 },
        self: { type: 'object', required: Object.keys(selfProps), properties: selfProps },
        peers: { type: 'array', items: peerSchema },
        relays: relayMapSchema,
        keepaliveSec: { type: 'number', exclusiveMinimum: 0 },
      },
    },
    {
      type: 'object',
      required: ['t', 'seq'],
      properties: {
        t: { const: 'delta' },
        seq: { type: 'integer', minimum: 0 },
        upsert: { type: 'array', items: peerSchema },
        patch: { type: 'array', items: patchSchema },
        remove: { type: 'array', items: peerProps.id },
        self: { type: 'object', properties: selfProps },
        relays: relayMapSchema,
      },
    },
    { type: 'object', required: ['t'], properties: { t: { const: 'keepalive' } } },
  ],
} as const;

/** Formats the stream schema needs beyond COORD_FORMATS. */
export const MAP_FORMATS = {
  ...COORD_FORMATS,
  'cidr-host': (v: string) => parseCidr(v, { loose: true }) !== undefined,
  'host-port': (v: string) => parseHostPort(v) !== undefined,
};

export const relayAdmitRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeKeys'],
  properties: { nodeKeys: { type: 'array', minItems: 1, maxItems: LIMITS.maxAdmitKeys, items: key } },
} as const;

/**
 * The relay map file given with --relay-map: the stream's schema, but strict (an operator's typo such as
 * "certSha265" must be an error at start, not a pin silently missing from every node's map).
 */
export const relayMapFileSchema = {
  ...relayMapSchema,
  additionalProperties: false,
  properties: {
    regions: {
      ...relayMapSchema.properties.regions,
      items: {
        ...relayMapSchema.properties.regions.items,
        additionalProperties: false,
        properties: {
          ...relayMapSchema.properties.regions.items.properties,
          nodes: {
            ...relayMapSchema.properties.regions.items.properties.nodes,
            items: { ...relayMapSchema.properties.regions.items.properties.nodes.items, additionalProperties: false },
          },
        },
      },
    },
  },
} as const;

// Admin bodies (over the local admin socket only).
export const adminAuthKeyCreateSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    reusable: { type: 'boolean' },
    /** Seconds from now; absent = never expires. */
    expiresInSec: { type: 'integer', minimum: 1, maximum: 10 * 365 * 86400 },
    tags: { type: 'array', maxItems: 32, uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' } },
  },
} as const;

export const adminRenameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: hostname },
} as const;

export const adminRouteSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeId', 'cidr'],
  properties: { nodeId: { type: 'string', minLength: 1, maxLength: 64 }, cidr: { type: 'string', format: 'cidr', maxLength: 43 } },
} as const;
