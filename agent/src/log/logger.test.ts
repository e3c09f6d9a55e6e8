import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, redactSecrets, REDACTED } from './logger.ts';

// A WireGuard-style base64 private key; it must never appear in any log line.
const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';

function collect() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

test('a private key never appears in a log line, at any depth or spelling of its key', () => {
  const { lines, destination } = collect();
  const log = createLogger({ level: 'trace', destination });
  log.info({ privateKey: KEY }, 'top level');
  log.info({ peer: { private_key: KEY, publicKey: 'pub' } }, 'nested');
  log.info({ peers: [{ presharedKey: KEY }] }, 'in a list');
  log.warn({ config: { wg: { privateKeyFile: '/x', authKey: KEY, token: KEY } } }, 'deep');
  log.child({ psk: KEY }).info('child bindings');
  assert.equal(lines.length, 5);
  for (const line of lines) assert.ok(!line.includes(KEY), `leaked: ${line}`);
  assert.ok(lines[1]!.includes('"publicKey":"pub"'), 'non-secret fields stay');
  assert.ok(lines[0]!.includes(REDACTED));
});

test('JSON lines by default, level respected', () => {
  const { lines, destination } = collect();
  const log = createLogger({ level: 'warn', destination });
  log.info('hidden');
  log.error({ code: 'CG_X' }, 'shown');
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.msg, 'shown');
  assert.equal(rec.level, 50);
});

test('redactSecrets handles cycles, errors and bytes without throwing', () => {
  const a: Record<string, unknown> = { name: 'a' };
  a.self = a;
  const out = redactSecrets({ a, err: new Error('boom'), raw: new Uint8Array(32) }) as Record<string, unknown>;
  assert.equal((out.raw as string), '<32 bytes>');
  assert.equal(((out.a as Record<string, unknown>).self as string), '[elided]');
});
