/** The page's "delete one mapping": the others and the epoch stay as they were (issue 19). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PmpResult, decodePmpResponse, encodePmpRequest, type PmpResponse } from '../pmp/codec.ts';
import { isConegateError } from '../errors.ts';
import { LAN, makeCore, type TestCore } from './testkit.ts';

const OTHER = { address: '192.168.1.11', port: 40002 };

async function map(t: TestCore, protocol: 'udp' | 'tcp', internalPort: number, src = LAN) {
  const r = decodePmpResponse((await t.core.handle(encodePmpRequest({ kind: 'map', protocol, internalPort, suggestedExternalPort: internalPort, lifetimeSec: 3600 }), src))!) as Extract<PmpResponse, { kind: 'map' }>;
  assert.equal(r.result, PmpResult.SUCCESS);
  return r;
}

test('deleting one mapping removes its rule only; the other mappings and the epoch are unchanged', async () => {
  const t = makeCore();
  await t.core.start();
  await map(t, 'udp', 5555);
  await map(t, 'tcp', 5555);
  await map(t, 'udp', 6000, OTHER);
  t.clock.advance(30_000);
  const epochBefore = t.core.epochSec();
  const rulesBefore = (await t.backend.list()).map((r) => r.id).sort();

  const gone = await t.core.deleteMapping(LAN.address, 'udp', 5555);
  assert.equal(gone.internalPort, 5555);
  assert.deepEqual(t.core.table.all().map((m) => `${m.client}/${m.transport}/${m.internalPort}`).sort(), ['192.168.1.10/tcp/5555', '192.168.1.11/udp/6000']);
  assert.deepEqual((await t.backend.list()).map((r) => r.id).sort(), rulesBefore.filter((id) => id !== gone.id));
  assert.equal(t.core.epochSec(), epochBefore, 'the epoch goes on (no reset)');
  assert.equal(t.core.stats.epochResets, 1, 'only the start reset the epoch');

  // The freed external port can be mapped again; a second delete of the same mapping is "not found".
  await assert.rejects(t.core.deleteMapping(LAN.address, 'udp', 5555), (e) => isConegateError(e) && e.code === 'CG_NOT_FOUND');
  await map(t, 'udp', 5555);
  await t.core.stop();
});
