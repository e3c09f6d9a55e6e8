import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paddedLength, Session } from './session.ts';
import { REJECT_AFTER_TIME_MS, REKEY_AFTER_TIME_MS } from './constants.ts';
import type { SessionKeys } from './noise.ts';

function pair(limits?: { rekeyAfterMessages: number; rejectAfterMessages: number }): { tx: Session; rx: Session } {
  const k1 = new Uint8Array(32).fill(1);
  const k2 = new Uint8Array(32).fill(2);
  const a: SessionKeys = { sendKey: Uint8Array.from(k1), receiveKey: Uint8Array.from(k2), isInitiator: true, localIndex: 10, remoteIndex: 20 };
  const b: SessionKeys = { sendKey: Uint8Array.from(k2), receiveKey: Uint8Array.from(k1), isInitiator: false, localIndex: 20, remoteIndex: 10 };
  return { tx: new Session(a, 0, limits), rx: new Session(b, 0, limits) };
}

test('padding: to 16, never past the MTU', () => {
  assert.equal(paddedLength(0, 1420), 0);
  assert.equal(paddedLength(1, 1420), 16);
  assert.equal(paddedLength(16, 1420), 16);
  assert.equal(paddedLength(1400, 1420), 1408);
  assert.equal(paddedLength(1410, 1420), 1420);
  assert.equal(paddedLength(1417, 1420), 1420);
  assert.equal(paddedLength(1420, 1420), 1420);
  assert.equal(paddedLength(1500, 1420), 1500);
  assert.equal(paddedLength(17, 0), 32);
});

test('seal/open round trip: header, counter, padding, keepalive', () => {
  const { tx, rx } = pair();
  const payload = Uint8Array.from({ length: 100 }, (_, i) => i);
  const msg = tx.seal(payload, 1420, 0)!;
  assert.equal(msg.length, 16 + 112 + 16);
  assert.deepEqual([...msg.subarray(0, 16)], [4, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'receiver: the peer index');
  const plain = rx.open(msg);
  assert.ok(plain instanceof Uint8Array);
  assert.deepEqual([...plain.subarray(0, 100)], [...payload]);
  assert.ok(plain.subarray(100).every((b) => b === 0));
  const ka = tx.seal(new Uint8Array(0), 1420, 0)!;
  assert.equal(ka.length, 32);
  assert.equal(ka[8], 1, 'second message has counter 1');
  assert.equal((rx.open(ka) as Uint8Array).length, 0);
});

test('open: replayed, tampered and misaddressed messages are refused; the window allows reordering', () => {
  const { tx, rx } = pair();
  const msgs = Array.from({ length: 5 }, (_, i) => tx.seal(Uint8Array.of(i), 1420, 0)!);
  assert.ok(rx.open(msgs[4]!) instanceof Uint8Array);
  assert.ok(rx.open(msgs[1]!) instanceof Uint8Array);
  assert.equal(rx.open(msgs[4]!), 'replay');
  const bad = Uint8Array.from(msgs[2]!);
  bad[20] = bad[20]! ^ 1;
  assert.equal(rx.open(bad), 'badAuth');
  assert.ok(rx.open(msgs[2]!) instanceof Uint8Array, 'a forged copy did not burn the counter');
  const forgedCounter = Uint8Array.from(msgs[3]!);
  forgedCounter[8] = 200;
  assert.equal(rx.open(forgedCounter), 'badAuth');
  const other = Uint8Array.from(msgs[0]!);
  other[4] = 99;
  assert.equal(rx.open(other), 'badAuth');
});

test('REKEY_AFTER_MESSAGES / REJECT_AFTER_MESSAGES (small limits injected)', () => {
  const { tx, rx } = pair({ rekeyAfterMessages: 3, rejectAfterMessages: 6 });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    assert.equal(tx.wantsRekeyOnSend(0), i > 3, `before message ${i}`);
    sent.push(tx.seal(Uint8Array.of(i), 1420, 0)!);
  }
  assert.equal(tx.seal(Uint8Array.of(6), 1420, 0), undefined, 'counter at the reject limit: no more sending');
  assert.equal(tx.canSend(0), false);
  for (const m of sent) assert.ok(rx.open(m) instanceof Uint8Array);
  // a message numbered at the limit is refused by the receiver even if authentic-looking
  const late = Uint8Array.from(sent[0]!);
  late[8] = 6;
  assert.equal(rx.open(late), 'replay');
});

test('REKEY_AFTER_TIME (initiator only) and REJECT_AFTER_TIME', () => {
  const { tx, rx } = pair();
  assert.equal(tx.wantsRekeyOnSend(REKEY_AFTER_TIME_MS), false);
  assert.equal(tx.wantsRekeyOnSend(REKEY_AFTER_TIME_MS + 1), true);
  assert.equal(rx.wantsRekeyOnSend(REKEY_AFTER_TIME_MS + 1), false, 'responders do not rekey on time');
  assert.equal(tx.canSend(REJECT_AFTER_TIME_MS - 1), true);
  assert.equal(tx.canSend(REJECT_AFTER_TIME_MS), false);
  assert.equal(rx.canReceive(REJECT_AFTER_TIME_MS), false);
  assert.equal(tx.seal(new Uint8Array(0), 1420, REJECT_AFTER_TIME_MS), undefined);
});
