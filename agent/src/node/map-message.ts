/**
 * Decoding one line of the NDJSON map stream (GET /v1/map) into a MapMessage. Every line is checked
 * against a JSON Schema before the reducer sees it, so a buggy or hostile coordinator cannot put a
 * non-hex key or a non-CIDR address into the WireGuard device. Throws only DecodeError.
 */
import { Ajv } from 'ajv';
import { DecodeError } from '../errors.ts';
import { LIMITS, type MapMessage } from '../coord/protocol.ts';
import { parseCidr, parseHostPort } from '../net/ip.ts';

const key = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const cidrList = { type: 'array', items: { type: 'string', format: 'cidr-loose' }, maxItems: 1024 } as const;
const endpoint = {
  type: 'object',
  required: ['addr', 'type'],
  properties: { addr: { type: 'string', format: 'host-port' }, type: { enum: ['local', 'stun', 'portmap', 'stun-localport', 'configured'] } },
} as const;
const peerFields = {
  id: { type: 'string', minLength: 1, maxLength: 128 },
  name: { type: 'string', maxLength: 255 },
  nodeKey: key,
  discoKey: key,
  addresses: cidrList,
  routes: cidrList,
  endpoints: { type: 'array', items: endpoint, maxItems: LIMITS.maxEndpoints * 4 },
  homeRelay: { type: ['string', 'null'] },
  online: { type: 'boolean' },
  lastSeenMs: { type: 'number' },
  udpRelay: { type: 'string', format: 'host-port' },
} as const;
// udpRelay came later: a coordinator that does not know it sends none.
const peer = { type: 'object', required: Object.keys(peerFields).filter((k) => k !== 'udpRelay'), properties: peerFields } as const;
const patch = { type: 'object', required: ['id'], properties: peerFields } as const;
const selfFields = {
  id: peerFields.id,
  name: peerFields.name,
  machineKey: key,
  nodeKey: key,
  discoKey: key,
  addresses: cidrList,
  advertisedRoutes: cidrList,
  approvedRoutes: cidrList,
  tags: { type: 'array', items: { type: 'string' } },
} as const;
const relays = { type: 'object', required: ['regions'], properties: { regions: { type: 'array' } } } as const;
const seq = { type: 'integer', minimum: 0 } as const;

const schema = {
  oneOf: [
    {
      type: 'object',
      required: ['t', 'seq', 'self', 'peers', 'relays', 'keepaliveSec'],
      properties: { t: { const: 'full' }, seq, self: { type: 'object', required: Object.keys(selfFields), properties: selfFields }, peers: { type: 'array', items: peer }, relays, keepaliveSec: { type: 'number' } },
    },
    {
      type: 'object',
      required: ['t', 'seq'],
      properties: {
        t: { const: 'delta' },
        seq,
        upsert: { type: 'array', items: peer },
        patch: { type: 'array', items: patch },
        remove: { type: 'array', items: peerFields.id },
        self: { type: 'object', properties: selfFields },
        relays,
      },
    },
    { type: 'object', required: ['t'], properties: { t: { const: 'keepalive' } } },
  ],
};

const ajv = new Ajv({ allErrors: false, strict: false });
ajv.addFormat('cidr-loose', { type: 'string', validate: (v: string) => parseCidr(v, { loose: true }) !== undefined });
ajv.addFormat('host-port', { type: 'string', validate: (v: string) => parseHostPort(v) !== undefined });
const validate = ajv.compile(schema);

/** One stream line (without the newline) to a message. */
export function decodeMapMessage(line: string): MapMessage {
  if (line.length > LIMITS.maxMessageBytes) throw new DecodeError('map message too large');
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new DecodeError('map message is not JSON');
  }
  if (!validate(value)) {
    const e = validate.errors?.[0];
    throw new DecodeError(`map message invalid at ${e?.instancePath || '/'}: ${e?.message ?? 'schema'}`);
  }
  return value as MapMessage;
}
