import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeAnnouncement } from './announce.ts';
import { encodePmpAnnouncement, encodePmpResponse } from '../pmp/codec.ts';
import { encodePcpAnnouncement } from '../pcp/codec.ts';

test('announce: NAT-PMP and PCP announcements decode; failures and other replies do not count', () => {
  assert.deepEqual(decodeAnnouncement(encodePmpAnnouncement(12, Uint8Array.of(198, 51, 100, 4))), { via: 'natpmp', epochSec: 12, externalAddress: '198.51.100.4' });
  assert.deepEqual(decodeAnnouncement(encodePcpAnnouncement(3)), { via: 'pcp', epochSec: 3 });
  assert.equal(decodeAnnouncement(encodePmpResponse({ kind: 'publicAddress', result: 3, epochSec: 1, externalAddress: new Uint8Array(4) })), undefined);
  assert.equal(decodeAnnouncement(Uint8Array.of(0, 0x80, 0)), undefined);
});

test('announce: any datagram decodes to an announcement or undefined, never throws', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
    decodeAnnouncement(b);
  }), { numRuns: 5000 });
});
