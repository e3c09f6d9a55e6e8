import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { openDgramBind } from '../../stun/dgram-bind.ts';
import { StunServer } from '../../stun/server.ts';
import { staticAdmission } from '../server/admission.ts';
import { startTestRelay } from '../server/testing.ts';
import { relayProbe } from './probe.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

test('relay probe: STUN at the relay STUN address first; HTTPS HEAD without one, or when STUN does not answer', async () => {
  const relay = await startTestRelay({ admission: staticAdmission([]) });
  cleanups.push(() => relay.stop());
  const stun = new StunServer([{ primary: { address: '127.0.0.1', port: 0 } }], { openBind: openDgramBind });
  await stun.start();
  cleanups.push(() => stun.stop());
  const stunAddr = `127.0.0.1:${stun.resolved[0]!.primary.port}`;
  // A UDP port that is bound but never answers: STUN gets nothing back.
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
  const silentAddr = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  let silentGot = 0;
  silent.on('message', () => silentGot++);

  const probe = relayProbe({ config: 'none', env: {} });
  const node = { url: relay.url, certSha256: relay.fingerprint };
  const signal = AbortSignal.timeout(20_000);

  const viaStun = await probe({ ...node, stun: stunAddr }, signal);
  assert.ok(viaStun >= 0);
  assert.equal(stun.stats.answered, 1, 'measured by STUN');

  const viaHttps = await probe(node, signal);
  assert.ok(viaHttps >= 0);
  assert.equal(stun.stats.answered, 1, 'no STUN address: HTTPS');

  const fallback = await probe({ ...node, stun: silentAddr }, signal);
  assert.ok(fallback >= 0, 'HTTPS after STUN gave up');
  assert.ok(silentGot >= 1, 'STUN was tried first');
});

test('relay probe: a relay that cannot be reached rejects (the client then has no sample for it)', async () => {
  const probe = relayProbe({ config: 'none', env: {} });
  await assert.rejects(probe({ url: 'https://127.0.0.1:1', certSha256: 'ab'.repeat(32) }, AbortSignal.timeout(10_000)), (e: { code: string }) => e.code === 'CG_NETWORK');
});
