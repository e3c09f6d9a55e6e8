// The agent compiles its own constant schemas with validateSchema off (the meta-schema's compile cost
// every start ~50 ms per Ajv instance): this checks each of them against the JSON Schema meta-schema once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { configSchema } from './schema.ts';
import { mapMessageSchema } from '../coord/schemas.ts';
import { CONTROL_COMMANDS, controlRequestSchema } from '../service/control-protocol.ts';

const ajv = new Ajv({ strict: false });
const valid = (name: string, schema: object) => assert.equal(ajv.validateSchema(schema), true, `${name}: ${ajv.errorsText(ajv.errors)}`);

test('the config schema is a valid JSON Schema', () => valid('config', configSchema));
test('the map message schema is a valid JSON Schema', () => valid('map message', mapMessageSchema));
test('every control request schema is a valid JSON Schema', () => {
  for (const cmd of CONTROL_COMMANDS) valid(cmd, controlRequestSchema(cmd));
});
test('the check itself refuses a broken schema', () => {
  assert.equal(ajv.validateSchema({ type: 'objekt' }), false);
  assert.equal(ajv.validateSchema({ type: 'object', properties: { a: { minimum: 'one' } } }), false);
});
