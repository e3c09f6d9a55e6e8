/**
 * One compliance check for every Bind implementation (memory here; dgram / koffi binds in the lab run
 * the same function), so the device can rely on the same behaviour from all of them.
 */
import assert from 'node:assert/strict';
import type { Bind, Endpoint } from './ports.ts';
import { formatEndpoint } from './ports.ts';

/**
 * What every Bind must do, written against the interface so the OS binds can run the same checks in
 * the lab: `makePair` returns two binds that can reach each other and `settle(done)`, which resolves
 * once `done()` is true (a real bind waits for it, bounded in time; the memory one drains its queue).
 */
export async function bindCompliance(makePair: () => Promise<{ a: Bind; b: Bind; aAt: Endpoint; bAt: Endpoint; settle: (done: () => boolean) => Promise<void> }>): Promise<void> {
  const { a, b, aAt, bAt, settle } = await makePair();
  const got: [Uint8Array, Endpoint][] = [];
  b.onReceive((p, from) => got.push([p, from]));
  a.send(Uint8Array.of(1, 2, 3), bAt);
  a.send([Uint8Array.of(4), Uint8Array.of(5, 6)], bAt);
  await settle(() => got.length >= 3);
  assert.deepEqual(
    got.map(([p]) => [...p]),
    [[1, 2, 3], [4], [5, 6]],
  );
  assert.equal(formatEndpoint(got[0]![1]), formatEndpoint(aAt), 'the source endpoint is reported');
  await a.close();
  await a.close(); // idempotent
  await b.close();
}

