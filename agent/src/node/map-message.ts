/**
 * Decoding one line of the NDJSON map stream (GET /v1/map) into a MapMessage. Every line is checked
 * against the stream's JSON Schema before the reducer sees it, so a buggy or hostile coordinator cannot
 * put a non-hex key or a non-CIDR address into the WireGuard device. The schema is the coordinator's
 * own (coord/schemas.ts mapMessageSchema): one definition for what is sent and what is accepted.
 * Throws only DecodeError.
 */
import { Ajv } from 'ajv';
import { DecodeError } from '../errors.ts';
import { LIMITS, type MapMessage } from '../coord/protocol.ts';
import { MAP_FORMATS, mapMessageSchema } from '../coord/schemas.ts';

// validateSchema off: a constant schema, checked against the meta-schema by config/schemas-valid.test.ts.
const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: false });
for (const [name, validate] of Object.entries(MAP_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
const validate = ajv.compile(mapMessageSchema);

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
