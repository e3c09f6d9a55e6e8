import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { silentLogger } from '../log/logger.ts';
import { V6Announcer, bindRetryDelaysMs, type AnnounceSocket, type BindV6 } from './announce6.ts';

function fakeBind(failFirst: number, code = 'EADDRNOTAVAIL') {
  const calls: string[] = [];
  const sent: { packet: Uint8Array; port: number; address: string }[] = [];
  let closed = 0;
  const bind: BindV6 = async (ifname) => {
    calls.push(ifname);
    if (calls.length <= failFirst) throw Object.assign(new Error(`bind ${code}`), { code });
    const s: AnnounceSocket = { send: (packet, port, address) => void sent.push({ packet, port, address }), close: async () => void closed++ };
    return s;
  };
  return { bind, calls, sent, closed: () => closed };
}

const settle = () => new Promise((r) => setImmediate(r));

test('IPv6 ANNOUNCE socket: a tentative link-local (EADDRNOTAVAIL) is retried with back-off until it binds', async () => {
  const clock = new FakeClock();
  const f = fakeBind(3);
  const a = new V6Announcer(['lan0'], () => 5351, { clock, log: silentLogger(), bind: f.bind });
  a.start();
  await settle();
  assert.deepEqual(a.ready(), []);
  for (const ms of [250, 500, 1000]) {
    clock.advance(ms);
    await settle();
  }
  assert.equal(f.calls.length, 4);
  assert.deepEqual(a.ready(), ['lan0']);
  a.send(Uint8Array.of(2, 0x80), 5350, 'ff02::1');
  assert.deepEqual(f.sent.map((s) => `${s.address}:${s.port}`), ['ff02::1%lan0:5350']);
  assert.equal(clock.pendingTimers(), 0);
  await a.stop();
  assert.equal(f.closed(), 1);
});

test('IPv6 ANNOUNCE socket: retries are bounded (12 attempts, about 3 minutes), then one warning and no timer left', async () => {
  const clock = new FakeClock();
  const f = fakeBind(1000);
  const a = new V6Announcer(['lan0'], () => 5351, { clock, log: silentLogger(), bind: f.bind });
  a.start();
  await settle();
  const delays = bindRetryDelaysMs();
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  for (const ms of delays) {
    clock.advance(ms);
    await settle();
  }
  assert.equal(f.calls.length, 12);
  assert.equal(clock.pendingTimers(), 0);
  await a.stop();
});

test('IPv6 ANNOUNCE socket: stop() cancels a pending retry', async () => {
  const clock = new FakeClock();
  const f = fakeBind(1);
  const a = new V6Announcer(['lan0', 'lan1'], () => 5351, { clock, log: silentLogger(), bind: f.bind });
  a.start();
  await settle();
  assert.equal(clock.pendingTimers(), 1);
  await a.stop();
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(f.closed(), 1, 'the interface that bound is closed');
});
