import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import { renderHostConfig } from './render.ts';
import type { FleetHost } from './types.ts';

const host = (config?: Record<string, unknown>): FleetHost => ({ name: 'r1', address: 'r1', port: 22, user: 'root', vars: {}, groups: ['all'], ...(config ? { config } : {}) });

test('host overrides deep-merge over the base; same inputs, same bytes', () => {
  const base = { log: { level: 'info' } };
  const text = renderHostConfig(base, host({ log: { level: 'debug' } }));
  assert.equal(text, '{\n  "log": {\n    "level": "debug"\n  }\n}\n');
  assert.equal(renderHostConfig(base, host()), renderHostConfig(base, host()));
  assert.deepEqual(base, { log: { level: 'info' } }, 'the base is not modified');
});

test('a config the agent would refuse is refused here, naming the host', () => {
  assert.throws(
    () => renderHostConfig({}, host({ log: { level: 'loud' } })),
    (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID' && /config for r1/.test(e.message) && e.context.host === 'r1',
  );
  assert.throws(() => renderHostConfig({ nosuchsection: {} }, host()), ConegateError);
});
