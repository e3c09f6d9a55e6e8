/**
 * The dynamic planner against a small model of PF's NAT: a new flow takes the pin of its socket if
 * one matches, else the appliance's own choice (a fresh port per destination, or the source port
 * under static-port). Steps are "after Δ, these states", then the expected pins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPins, renderPins, type Pin, type PlanInput } from './pins.ts';
import { parsePfStates, type PfState } from './states.ts';
import { checkAnchorText } from '../grammar.ts';

const EXT = '203.0.113.2';

/** A model of PF outbound NAT on one WAN: pins first (our anchor), else the appliance's rule. */
class PfModel {
  flows: { int: string; intPort: number; dst: string; dstPort: number; extPort: number }[] = [];
  private next = 53000;
  constructor(private readonly appliance: 'random' | 'static-port') {}
  send(pins: Pin[], int: string, intPort: number, dst: string, dstPort: number): number {
    const have = this.flows.find((f) => f.int === int && f.intPort === intPort && f.dst === dst && f.dstPort === dstPort);
    if (have) return have.extPort;
    const pin = pins.find((p) => p.intAddr === int && p.intPort === intPort);
    const extPort = pin ? pin.extPort : this.appliance === 'static-port' ? intPort : this.next++;
    // PF refuses a translation whose wire tuple (ext port, destination) is already taken.
    assert.ok(!this.flows.some((f) => f.extPort === extPort && f.dst === dst && f.dstPort === dstPort), 'wire tuple collision');
    this.flows.push({ int, intPort, dst, dstPort, extPort });
    return extPort;
  }
  expire(int: string): void {
    this.flows = this.flows.filter((f) => f.int !== int);
  }
  pfctlSs(): PfState[] {
    return parsePfStates(this.flows.map((f) => `all udp ${EXT}:${f.extPort} (${f.int}:${f.intPort}) -> ${f.dst}:${f.dstPort}       MULTIPLE:MULTIPLE`).join('\n')).states;
  }
}

function seq(values: number[]): (n: number) => number {
  let i = 0;
  return (n) => (values[i++ % values.length]! % n);
}

function step(pf: PfModel, pins: Pin[], nowMs: number, randomInt = seq([7])) {
  const input: PlanInput = { states: pf.pfctlSs(), pins, nowMs, graceMs: 30_000, scope: { sources: ['192.168.1.0/24'] }, wans: [{ ifname: 'igb0', addresses: [EXT] }], portRange: { from: 1024, to: 65535 }, randomInt };
  return planPins(input);
}

for (const appliance of ['random', 'static-port'] as const) {
  test(`two LAN hosts with the same source port get stable, distinct external ports (appliance ${appliance})`, () => {
    const pf = new PfModel(appliance);
    const A = '192.168.1.10';
    const B = '192.168.1.11';
    let pins: Pin[] = [];
    // First flows go out before any pin exists: the appliance picks.
    pf.send(pins, A, 41641, '198.51.100.7', 3478);
    pf.send(pins, B, 41641, '192.0.2.44', 3478);
    let plan = step(pf, pins, 1000);
    pins = plan.pins;
    assert.equal(plan.changed, true);
    assert.equal(pins.length, 2);
    const portA = pins.find((p) => p.intAddr === A)!.extPort;
    const portB = pins.find((p) => p.intAddr === B)!.extPort;
    assert.notEqual(portA, portB, 'distinct external ports');
    if (appliance === 'random') {
      // A's first flow keeps its port: the pin adopts what is already on the wire.
      assert.equal(portA, pf.flows[0]!.extPort);
    } else {
      // Both sockets held 41641 on the wire: both move, so no new flow collides with the other's old state.
      assert.ok(portA !== 41641 && portB !== 41641);
    }
    // New destinations for both (including the other host's first peer): each socket leaves from its
    // one pinned port, to every destination. (Flows that existed before the pin keep their state.)
    const fresh = appliance === 'random' ? [['192.0.2.44', 3478], ['198.51.100.99', 51820], ['203.0.113.77', 3478]] : [['198.51.100.99', 51820], ['203.0.113.77', 3478]];
    for (const [dst, dport] of fresh as [string, number][]) {
      assert.equal(pf.send(pins, A, 41641, dst, dport), portA, `A to ${dst}`);
      assert.equal(pf.send(pins, B, 41641, dst, dport), portB, `B to ${dst}`);
      if (appliance === 'random') assert.equal(pf.send(pins, B, 41641, '198.51.100.7', 3478), portB, 'B to A\'s first peer');
    }
    // Later polls change nothing: stable.
    plan = step(pf, pins, 5000);
    assert.equal(plan.changed, false);
    assert.deepEqual(plan.pins.map((p) => p.extPort), pins.map((p) => p.extPort));
    // The rules render and pass the grammar check.
    const text = renderPins(plan.pins);
    assert.equal(checkAnchorText(text).rules.length, 2);
    assert.match(text, new RegExp(`from ${A} port 41641 to any -> ${EXT} port ${portA}\\n`));
  });
}

test('a pin outlives its last state by the grace period, then expires', () => {
  const pf = new PfModel('random');
  let pins = step((pf.send([], '192.168.1.10', 5000, '198.51.100.7', 3478), pf), [], 0).pins;
  assert.equal(pins.length, 1);
  pf.expire('192.168.1.10');
  let plan = step(pf, pins, 30_000);
  assert.equal(plan.changed, false, 'still in grace');
  pins = plan.pins;
  plan = step(pf, pins, 30_001);
  assert.equal(plan.changed, true);
  assert.equal(plan.pins.length, 0);
  assert.equal(plan.expired.length, 1);
});

test('out-of-scope sockets and IPv6 are not pinned; a taken port is never reused', () => {
  const states = parsePfStates([
    `all udp ${EXT}:41641 (10.9.9.9:41641) -> 198.51.100.7:3478   SINGLE:NO_TRAFFIC`,
    `all udp ${EXT}:41641 (192.168.1.20:41641) -> 198.51.100.8:3478   SINGLE:NO_TRAFFIC`,
  ].join('\n')).states;
  // 192.168.1.20 wants 41641 but an out-of-scope socket's state holds it on the wire: pick another.
  const plan = planPins({ states, pins: [], nowMs: 0, graceMs: 1, scope: { sources: ['192.168.1.0/24'] }, wans: [{ ifname: 'igb0', addresses: [EXT] }], portRange: { from: 41641, to: 41643 }, randomInt: () => 0 });
  assert.deepEqual(plan.pins.map((p) => [p.intAddr, p.extPort]), [['192.168.1.20', 41642]]);
});
