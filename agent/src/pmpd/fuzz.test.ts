// Property: whatever bytes a LAN host sends, the server never throws and every answer it gives is a
// well-formed response of the version it carries (the unit-level twin of the lab fuzz test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePmpResponse, encodePmpRequest } from '../pmp/codec.ts';
import { decodePcpResponse, encodePcpRequest } from '../pcp/codec.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import { LAN, makeCore } from './testkit.ts';

const client = toMappedV6(parseIp(LAN.address)!.bytes);
const SEEDS = [
  encodePmpRequest({ kind: 'publicAddress' }),
  encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 5000, suggestedExternalPort: 5000, lifetimeSec: 600 }),
  encodePmpRequest({ kind: 'map', protocol: 'tcp', internalPort: 0, suggestedExternalPort: 0, lifetimeSec: 0 }),
  encodePcpRequest({ opcode: 'map', lifetimeSec: 600, clientAddress: client, map: { nonce: new Uint8Array(12), protocol: 17, internalPort: 5001, externalPort: 0, externalAddress: new Uint8Array(16) }, options: [{ kind: 'preferFailure' }] }),
  encodePcpRequest({
    opcode: 'peer',
    lifetimeSec: 600,
    clientAddress: client,
    peer: { nonce: new Uint8Array(12).fill(1), protocol: 6, internalPort: 5002, externalPort: 5002, externalAddress: new Uint8Array(16), remotePeerPort: 80, remotePeerAddress: toMappedV6(Uint8Array.of(198, 51, 100, 1)) },
    options: [],
  }),
  encodePcpRequest({ opcode: 'announce', lifetimeSec: 0, clientAddress: client, options: [{ kind: 'unknown', code: 130, data: new Uint8Array(4) }] }),
];

const packet = fc.oneof(
  fc.uint8Array({ maxLength: 1200 }),
  fc.tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(120), fc.nat(255)), { maxLength: 5 }), fc.integer({ min: -8, max: 8 })).map(([seed, muts, grow]) => {
    const b = new Uint8Array(Math.max(0, seed.length + grow));
    b.set(seed.subarray(0, b.length));
    for (const [i, x] of muts) if (i < b.length) b[i] = x;
    return b;
  }),
);

test('property: the server answers any packet with a well-formed response or nothing, and never throws', async () => {
  const t = makeCore({ policy: { requestsPerClientPerSec: 1_000_000 } });
  await t.core.start();
  await fc.assert(
    fc.asyncProperty(fc.array(packet, { minLength: 1, maxLength: 20 }), async (packets) => {
      for (const p of packets) {
        const out = await t.core.handle(p, LAN);
        if (!out) continue;
        assert.ok(out.length <= 1100 && out.length % 4 === 0 || out[0] === 0, 'PCP answers are 4-aligned and bounded');
        if (out[0] === 0) decodePmpResponse(out);
        else {
          assert.equal(out[0], 2, 'answers are NAT-PMP or PCP version 2');
          decodePcpResponse(out);
        }
      }
    }),
    { numRuns: 300 },
  );
  // Still healthy afterwards: the table and the firewall agree.
  const installed = new Set((await t.backend.list()).map((m) => m.id));
  assert.deepEqual(new Set(t.core.table.all().map((m) => m.id)), installed);
  await t.core.stop();
});
