// The router's watch on WireGuard sent directly: when is the silence longer than WireGuard allows?
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wireguardShaped } from '../ips/shapes.ts';
import { WG_DATA_SILENT_MS, WG_HANDSHAKE_SILENT_MS, WgWatch } from './wg-watch.ts';

const init = wireguardShaped(1);
const data = wireguardShaped(4, 4, 64);
const keepalive = wireguardShaped(4, 4, 16);

test('a retransmitted initiation with nothing back since the first: silent, once; a new window starts', () => {
  const w = new WgWatch();
  assert.equal(w.sent(init, 0), false);
  assert.equal(w.sent(init, WG_HANDSHAKE_SILENT_MS - 1), false);
  assert.equal(w.sent(init, 5_100), true, 'the second initiation 5.1 s later: the first was lost');
  assert.equal(w.sent(init, 5_200), false, 'reported once; a new window');
  assert.equal(w.heard(), true, 'WireGuard back after a report: the engine hears it');
  assert.equal(w.heard(), false);
});

test('an answered initiation never reports; keepalives start no window; data waits for the keepalive timeout', () => {
  const w = new WgWatch();
  w.sent(init, 0);
  assert.equal(w.heard(), false, 'nothing was reported');
  assert.equal(w.sent(init, 6_000), false, 'answered at 0: a new initiation is a rekey, not a loss');
  w.heard();
  assert.equal(w.sent(keepalive, 7_000), false);
  assert.equal(w.sent(keepalive, 30_000), false, 'keepalives are never answered: no verdict from them');
  assert.equal(w.sent(data, 31_000), false);
  assert.equal(w.sent(data, 31_000 + WG_DATA_SILENT_MS - 1), false, 'the peer may answer only with a keepalive after 10 s');
  assert.equal(w.sent(data, 31_000 + WG_DATA_SILENT_MS), true);
});

test('relay-only sending resets the windows', () => {
  const w = new WgWatch();
  w.sent(init, 0);
  w.notDirect();
  assert.equal(w.sent(init, 6_000), false);
});

test('WireGuard back through the relay ends the window without a verdict; a reported block waits for direct', () => {
  const w = new WgWatch();
  w.sent(data, 0);
  w.heardRelayed(data, 1);
  assert.equal(w.sent(data, WG_DATA_SILENT_MS + 1), false, 'the peer answers, only by the relay');
  assert.equal(w.sent(data, 2 * WG_DATA_SILENT_MS + 1), true);
  w.heardRelayed(data, 2 * WG_DATA_SILENT_MS + 2);
  assert.equal(w.reported, true, 'still blocked: nothing came directly');
  assert.equal(w.heard(), true);
});

test('the peer retransmits its initiation through the relay after we answered directly: our answers are lost', () => {
  const w = new WgWatch();
  const response = wireguardShaped(2);
  assert.equal(w.heardRelayed(init, 0), false, 'a first initiation says nothing');
  w.sent(response, 10);
  assert.equal(w.heardRelayed(init, 5_200), true, 'retransmitted 5.2 s later: our direct response died');
  assert.equal(w.heardRelayed(init, 10_400), false, 'nothing sent directly since (relay only now)');
  const x = new WgWatch();
  x.heardRelayed(init, 0);
  x.sent(response, 10);
  assert.equal(x.heardRelayed(init, 120_000), false, 'two minutes later: a rekey, not a retransmission');
});
