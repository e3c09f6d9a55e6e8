import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeStun } from './codec.ts';

/** Reads a fixture: '#' lines say how it was captured, the rest is hex. */
function fixture(name: string): Uint8Array {
  const text = readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
  return Uint8Array.from(Buffer.from(text.split('\n').filter((l) => !l.startsWith('#')).join('').trim(), 'hex'));
}

test('coturn Binding answer: XOR-MAPPED, MAPPED, RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE', () => {
  const m = decodeStun(fixture('coturn-binding-rfc5780.hex'));
  assert.equal(m.kind, 'success');
  assert.deepEqual(m.xorMappedAddress, { family: 4, address: '127.0.0.1', port: 58731 });
  assert.deepEqual(m.mappedAddress, m.xorMappedAddress);
  assert.deepEqual(m.responseOrigin, { family: 4, address: '127.0.0.1', port: 34780 });
  assert.deepEqual(m.otherAddress, { family: 4, address: '127.0.0.2', port: 34781 });
  assert.equal(m.software, "Coturn-4.6.1 'Gorst'");
});

test('coturn CHANGE-REQUEST answer names the alternate as RESPONSE-ORIGIN', () => {
  const m = decodeStun(fixture('coturn-change-ip-port.hex'));
  assert.deepEqual(m.responseOrigin, { family: 4, address: '127.0.0.2', port: 34781 });
});

test('turnutils_stunclient request: CHANGE-REQUEST with RESPONSE-PORT', () => {
  const m = decodeStun(fixture('turnutils-response-port.hex'));
  assert.equal(m.kind, 'request');
  assert.deepEqual(m.changeRequest, { changeIp: true, changePort: true });
  assert.equal(m.responsePort, 0xa164);
});
