import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import { seededRandom } from '../wg/testbed.ts';
import { BIRTHDAY_LIMITS, PORT_MAX, PORT_MIN, PORT_SPACE, birthdaySuccessProbability, planEasyProbes, planHardPings, randomPorts, validateBirthday, type BirthdayParams } from './birthday-plan.ts';
import { MESH_SOCKET } from './types.ts';

test('the success probability matches the published figures for n = 256 (mesh-facts: 50%, 64%, 98%, 99.9%)', () => {
  assert.equal(PORT_SPACE, 64_511);
  const p = (m: number) => Math.round(birthdaySuccessProbability(256, m) * 1000) / 10;
  assert.ok(Math.abs(p(174) - 50) < 1, `M=174: ${p(174)}`);
  assert.ok(Math.abs(p(256) - 64) < 1, `M=256: ${p(256)}`);
  assert.ok(Math.abs(p(1024) - 98) < 0.5, `M=1024: ${p(1024)}`);
  assert.ok(p(2048) >= 99.9, `M=2048: ${p(2048)}`);
  // Close to the approximation 1 - e^(-nM/S) in this range.
  assert.ok(Math.abs(birthdaySuccessProbability(256, 1024) - (1 - Math.exp((-256 * 1024) / PORT_SPACE))) < 0.005);
  assert.equal(birthdaySuccessProbability(0, 1024), 0);
  assert.equal(birthdaySuccessProbability(10, 10, 15), 1);
});

test('random ports are distinct, inside 1025-65535, and reproducible from the injected randomness', () => {
  const a = randomPorts(1024, seededRandom('ports'));
  assert.equal(a.length, 1024);
  assert.equal(new Set(a).size, 1024);
  assert.ok(a.every((p) => p >= PORT_MIN && p <= PORT_MAX && Number.isInteger(p)));
  assert.deepEqual(randomPorts(1024, seededRandom('ports')), a);
  // Spread over the space, not a run of neighbours (a sequential-port bug would fail this).
  assert.ok(Math.max(...a) - Math.min(...a) > PORT_SPACE * 0.9);
  // Draws that repeat and fall above the rejection limit are drawn again, not kept.
  let k = 0;
  const poor = (n: number) => Uint8Array.from({ length: n }, () => [0xff, 0xff, 0x00, 0x07, 0x00, 0x07, 0x00, 0x08][k++ % 8]!);
  assert.deepEqual(randomPorts(2, poor), [PORT_MIN + 7, PORT_MIN + 8]);
});

test('easy probes are paced at the rate and cut at the deadline', () => {
  const plan = planEasyProbes({ hardAddress: '203.0.113.7', probes: 1024, ratePerSec: 200, deadlineMs: 10_000 }, seededRandom('e'));
  assert.equal(plan.length, 1024);
  assert.deepEqual(plan.slice(0, 3).map((s) => s.atMs), [0, 5, 10]);
  assert.equal(plan.at(-1)!.atMs, 5115);
  assert.ok(plan.every((s) => s.socket === MESH_SOCKET && s.to.address === '203.0.113.7'));
  // 100/s for 2 s fits 201 probes (t = 0, 10, ..., 2000), whatever the budget says.
  assert.equal(planEasyProbes({ hardAddress: '203.0.113.7', probes: 1024, ratePerSec: 100, deadlineMs: 2000 }, seededRandom('e')).length, 201);
});

test('hard pings: every extra socket pings the easy endpoint at the start and again at half the deadline', () => {
  const plan = planHardPings({ address: '198.51.100.5', port: 41641 }, [1, 2, 3], 10_000);
  assert.deepEqual(plan.map((s) => [s.atMs, s.socket]), [[0, 1], [0, 2], [0, 3], [5000, 1], [5000, 2], [5000, 3]]);
});

const params = (p: Partial<BirthdayParams> = {}): BirthdayParams => ({
  role: 'hard', attempt: 1, hardAddress: '203.0.113.7', easy: { address: '198.51.100.5', port: 41641 }, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000, selfHard: true, peerHard: false, ...p,
});

const code = (fn: () => void) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConegateError);
    return e.code;
  }
  return 'none';
};

test('validation refuses both-hard and neither-hard, and anything over the budget, before a socket opens', () => {
  assert.equal(code(() => validateBirthday(params())), 'none');
  assert.equal(code(() => validateBirthday(params({ role: 'easy', selfHard: false, peerHard: true }))), 'none');
  assert.equal(code(() => validateBirthday(params({ peerHard: true }))), 'CG_BIRTHDAY_REFUSED');
  assert.equal(code(() => validateBirthday(params({ role: 'easy', selfHard: false }))), 'CG_BIRTHDAY_REFUSED');
  assert.equal(code(() => validateBirthday(params({ role: 'easy' }))), 'CG_INPUT_INVALID');
  const L = BIRTHDAY_LIMITS;
  for (const over of [{ sockets: L.maxSockets + 1 }, { probes: L.maxProbes + 1 }, { ratePerSec: L.maxRatePerSec + 1 }, { deadlineMs: L.maxDeadlineMs + 1 }, { sockets: 0 }, { probes: 1.5 }, { easy: { address: '198.51.100.5', port: 70000 } }]) {
    assert.equal(code(() => validateBirthday(params(over))), 'CG_INPUT_INVALID', JSON.stringify(over));
  }
});
