import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { summarizeIps } from './ips-summary.ts';

const FIX = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const ports = { meshPorts: [41641], relayPorts: [443] };

test('a router whose IPS drops our traffic is named in one line', async () => {
  const s = await summarizeIps({ root: `${FIX}ips/pfsense-suricata`, ...ports });
  assert.equal(s.checked, true);
  assert.equal(s.blocking, true);
  assert.match(s.headline, /^IPS on this router (may )?blocks? P2P: suricata rule \d+/);
});

test('a host without an IPS reports none and does not block', async () => {
  const s = await summarizeIps({ root: `${FIX}platform/linux`, ...ports });
  assert.deepEqual(s, { checked: true, blocking: false, complete: true, headline: 'no IPS found' });
});

test('a root that cannot be read is reported, not thrown', async () => {
  const s = await summarizeIps({ root: `${FIX}does-not-exist`, ...ports });
  assert.equal(s.checked, false);
  assert.equal(s.blocking, null);
  assert.match(s.headline, /^IPS not checked: /);
});
