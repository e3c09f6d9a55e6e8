import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PmpResult, decodePmpResponse, encodePmpRequest, type PmpResponse } from '../pmp/codec.ts';
import { PcpResult, decodePcpResponse, encodePcpRequest } from '../pcp/codec.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import { MemoryBackend } from '../fw/memory.ts';
import type { PortMapChange } from '../fw/backend.ts';
import { CommitQueue, decideBatch } from './commit-queue.ts';
import { MappingTable } from './table.ts';
import type { MappingRequest } from './policy.ts';
import { defaultPolicy, makeCore, type TestCore } from './testkit.ts';

/** A memory backend whose transactions wait for the test to open a gate, and fail on demand. */
class GatedBackend extends MemoryBackend {
  private release: (() => void) | undefined;
  private gate: Promise<void> | undefined;
  /** Every apply() call's changes, in order. */
  readonly batches: PortMapChange[][] = [];
  failWhen: ((changes: PortMapChange[]) => boolean) | undefined;

  close(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.gate = undefined;
  }
  override async apply(changes: PortMapChange[]): Promise<void> {
    this.batches.push(changes);
    if (this.gate) await this.gate;
    if (this.failWhen?.(changes)) throw new Error('transaction refused by the test');
    return super.apply(changes);
  }
}

/** One turn of the event loop: the core starts a batch with setImmediate. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const sorted = (ms: { id: string }[]): string => JSON.stringify([...ms].sort((a, b) => (a.id < b.id ? -1 : 1)));
const client = (n: number) => ({ address: `192.168.1.${n}`, port: 40000 + n });

function pmp(t: TestCore, n: number, internalPort: number, lifetimeSec: number): Promise<Extract<PmpResponse, { kind: 'map' }>> {
  return t.core.handle(encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort, suggestedExternalPort: internalPort, lifetimeSec }), client(n)).then((b) => decodePmpResponse(b!) as Extract<PmpResponse, { kind: 'map' }>);
}

function pcpMap(t: TestCore, n: number, internalPort: number) {
  const b = encodePcpRequest({
    opcode: 'map',
    lifetimeSec: 600,
    clientAddress: toMappedV6(parseIp(client(n).address)!.bytes),
    map: { nonce: new Uint8Array(12).fill(n), protocol: 17, internalPort, externalPort: internalPort, externalAddress: new Uint8Array(16) },
    options: [],
  });
  return t.core.handle(b, client(n)).then((out) => decodePcpResponse(out!));
}

test('group commit: requests arriving while a transaction is in flight are decided together and applied as one', async () => {
  const backend = new GatedBackend();
  const t = makeCore({ backend });
  await t.core.start();
  backend.close();
  const first = pmp(t, 10, 5000, 600);
  await turn();
  const rest = [pmp(t, 11, 5001, 600), pcpMap(t, 12, 5002), pmp(t, 13, 5003, 600), pmp(t, 14, 5000, 600)];
  backend.open();
  assert.equal((await first).externalPort, 5000);
  const [a, b, c, d] = await Promise.all(rest);
  assert.deepEqual([a!, c!].map((r) => (r as { result: number; externalPort: number }).externalPort), [5001, 5003]);
  assert.equal((b as { result: number }).result, PcpResult.SUCCESS);
  // Client 14 asked for 5000 too: decided after client 10's grant, it gets another port.
  assert.equal((d as { result: number }).result, PmpResult.SUCCESS);
  assert.notEqual((d as { externalPort: number }).externalPort, 5000);
  assert.deepEqual(backend.batches.map((x) => x.length), [1, 4]);
  assert.equal((await backend.list()).length, 5);
  await t.core.stop();
});

test('group commit: a refused transaction answers every request in it NETWORK_FAILURE; table and firewall stay as they were', async () => {
  const backend = new GatedBackend();
  const t = makeCore({ backend });
  await t.core.start();
  await pmp(t, 10, 5000, 600);
  await pmp(t, 11, 5001, 600);
  const tableBefore = sorted(t.core.table.all());
  backend.close();
  const inFlight = pmp(t, 15, 5005, 600);
  await turn();
  // Queued behind it: a new mapping (PCP), a delete, a renewal with a new lifetime, a new mapping (NAT-PMP).
  const batch = [pcpMap(t, 12, 6000), pmp(t, 10, 5000, 0), pmp(t, 11, 5001, 1200), pmp(t, 13, 6001, 600)];
  backend.failWhen = (changes) => changes.length > 1;
  backend.open();
  assert.equal((await inFlight).result, PmpResult.SUCCESS);
  const [pcpNew, del, renew, pmpNew] = await Promise.all(batch);
  assert.equal((pcpNew as { result: number }).result, PcpResult.NETWORK_FAILURE);
  for (const r of [del, renew, pmpNew]) assert.equal((r as { result: number }).result, PmpResult.NETWORK_FAILURE);
  assert.deepEqual(backend.batches.map((x) => x.length), [1, 1, 1, 3]);
  // The table is as before the batch (plus the one that landed), and so is the firewall.
  assert.equal(sorted(t.core.table.all().filter((m) => m.internalAddress !== '192.168.1.15')), tableBefore);
  assert.deepEqual((await backend.list()).map((m) => m.externalPort), [5000, 5001, 5005]);
  // The clients retry and the next transaction goes through.
  backend.failWhen = undefined;
  assert.equal((await pmp(t, 13, 6001, 600)).result, PmpResult.SUCCESS);
  await t.core.stop();
});

test('group commit: requests received in the same turn of the event loop go as one batch even with a backend that answers at once', async () => {
  const t = makeCore();
  await t.core.start();
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => pmp(t, 20 + i, 6000 + i, 600)));
  assert.ok(answers.every((a) => a.result === PmpResult.SUCCESS));
  assert.equal(t.backend.calls.apply, 1);
  assert.equal((await t.backend.list()).length, 8);
  await t.core.stop();
});

test('decideBatch: later requests see earlier ones of the same batch; undo restores the table exactly', () => {
  const table = new MappingTable();
  const policy = defaultPolicy();
  const req = (n: number, internalPort: number, lifetimeSec = 600): MappingRequest => ({
    via: 'pmp', client: `192.168.1.${n}`, internalAddress: `192.168.1.${n}`, thirdParty: false, protocolNumber: 17,
    internalPort, suggestedExternalPort: 7000, lifetimeSec, filterCount: 0, preferFailure: false,
  });
  const first = decideBatch([req(10, 7000)], table, policy, '203.0.113.1', 0);
  assert.equal(first.changes.length, 1);
  const before = sorted(table.all());
  const b = decideBatch([req(11, 7000), req(12, 7000), req(10, 7000, 0), req(13, 7000)], table, policy, '203.0.113.1', 1000);
  const ports = b.decisions.map((d) => (d.kind === 'grant' ? d.mapping.externalPort : d.kind));
  assert.deepEqual(ports, [7001, 7002, 'delete', 7000]);
  assert.deepEqual(b.changes.map((c) => c.op), ['add', 'add', 'remove', 'add']);
  b.undo();
  assert.equal(sorted(table.all()), before);
});

test('CommitQueue: the first item starts at once; items arriving meanwhile go as one batch; a throw rejects its batch only', async () => {
  const runs: number[][] = [];
  let release!: () => void;
  const q = new CommitQueue<number, number>(async (items) => {
    runs.push(items);
    if (runs.length === 1) await new Promise<void>((r) => (release = r));
    if (items.includes(-1)) throw new Error('boom');
    return items.map((i) => i * 2);
  });
  const a = q.submit(1);
  const more = [q.submit(2), q.submit(3)];
  assert.deepEqual(runs, [[1]]);
  release();
  assert.equal(await a, 2);
  assert.deepEqual(await Promise.all(more), [4, 6]);
  await assert.rejects(q.submit(-1), /boom/);
  assert.equal(await q.submit(5), 10);
  assert.deepEqual(runs, [[1], [2, 3], [-1], [5]]);
  await q.idle();
  assert.equal(q.size, 0);
});
