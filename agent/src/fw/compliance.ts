/**
 * The one behaviour every PortMapBackend must have, as node:test cases. Run against memory and
 * pf-with-fake-pfctl in unit tests, and against nftables in the lab (test/lab/pmpd-*.test.ts).
 * `make(owner)` returns a fresh, empty backend for that owner (two owners must not see each other).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../errors.ts';
import type { PortMapBackend, PortMapping } from './backend.ts';

export const SAMPLE: PortMapping[] = [
  { id: 'udp-192-168-1-10-5555', transport: 'udp', externalAddress: '203.0.113.1', externalPort: 5555, internalAddress: '192.168.1.10', internalPort: 5555 },
  { id: 'tcp-192-168-1-10-22', transport: 'tcp', externalAddress: '203.0.113.1', externalPort: 2222, internalAddress: '192.168.1.10', internalPort: 22 },
  {
    id: 'udp-192-168-1-11-51820',
    transport: 'udp',
    externalAddress: '203.0.113.1',
    externalPort: 51820,
    internalAddress: '192.168.1.11',
    internalPort: 51820,
    remote: { address: '198.51.100.9', prefixLength: 32, port: 51820 },
  },
  {
    id: 'tcp-192-168-1-12-8443',
    transport: 'tcp',
    externalAddress: '203.0.113.1',
    externalPort: 8443,
    internalAddress: '192.168.1.12',
    internalPort: 8443,
    remote: { address: '198.51.100.0', prefixLength: 24, port: 0 },
  },
];

const sortById = (ms: PortMapping[]): PortMapping[] => [...ms].sort((x, y) => (x.id < y.id ? -1 : 1));

export function backendCompliance(label: string, make: (owner: string) => Promise<PortMapBackend>): void {
  test(`${label}: add and list every kind of mapping`, async () => {
    const b = await make('cga');
    await b.flush();
    for (const m of SAMPLE) await b.add(m);
    assert.deepEqual(await b.list(), [...SAMPLE].sort((x, y) => (x.id < y.id ? -1 : 1)));
    await b.flush();
  });

  test(`${label}: add with a known id replaces; remove; remove of an unknown id is fine`, async () => {
    const b = await make('cga');
    await b.flush();
    await b.add(SAMPLE[0]!);
    await b.add({ ...SAMPLE[0]!, externalPort: 6000 });
    assert.deepEqual((await b.list()).map((m) => m.externalPort), [6000]);
    await b.remove(SAMPLE[0]!.id);
    await b.remove('no-such-id');
    assert.deepEqual(await b.list(), []);
  });

  test(`${label}: a refused change leaves the previous rules`, async () => {
    const b = await make('cga');
    await b.flush();
    await b.add(SAMPLE[0]!);
    const clash = { ...SAMPLE[1]!, transport: 'udp' as const, externalPort: 5555 };
    await assert.rejects(b.add(clash), (e) => isConegateError(e));
    await assert.rejects(b.add({ ...SAMPLE[1]!, internalAddress: '1.2.3.4; drop' }), (e) => isConegateError(e));
    assert.deepEqual(await b.list(), [SAMPLE[0]]);
    await b.flush();
  });

  test(`${label}: a batch lands whole: adds, a replacement and removes in one apply()`, async () => {
    const b = await make('cga');
    await b.flush();
    await b.apply([{ op: 'add', mapping: SAMPLE[0]! }, { op: 'add', mapping: SAMPLE[1]! }]);
    await b.apply([
      { op: 'remove', id: SAMPLE[0]!.id },
      { op: 'add', mapping: SAMPLE[2]! },
      { op: 'add', mapping: { ...SAMPLE[1]!, externalPort: 2223 } },
      { op: 'add', mapping: SAMPLE[3]! },
      { op: 'remove', id: 'no-such-id' },
    ]);
    assert.deepEqual(await b.list(), sortById([{ ...SAMPLE[1]!, externalPort: 2223 }, SAMPLE[2]!, SAMPLE[3]!]));
    // The port freed by a remove can be taken by an add later in the same batch.
    await b.apply([{ op: 'remove', id: SAMPLE[2]!.id }, { op: 'add', mapping: { ...SAMPLE[0]!, externalPort: 51820 } }]);
    assert.deepEqual((await b.list()).map((m) => `${m.id}:${m.externalPort}`), ['tcp-192-168-1-10-22:2223', 'tcp-192-168-1-12-8443:8443', 'udp-192-168-1-10-5555:51820']);
    await b.flush();
  });

  test(`${label}: a batch with one bad change lands nothing`, async () => {
    const b = await make('cga');
    await b.flush();
    await b.add(SAMPLE[0]!);
    const clash = { ...SAMPLE[1]!, transport: 'udp' as const, externalPort: 5555 };
    await assert.rejects(b.apply([{ op: 'add', mapping: SAMPLE[2]! }, { op: 'remove', id: SAMPLE[0]!.id }, { op: 'add', mapping: SAMPLE[3]! }, { op: 'add', mapping: { ...clash, id: 'x1' } }, { op: 'add', mapping: { ...clash, id: 'x2' } }]), (e) => isConegateError(e));
    await assert.rejects(b.apply([{ op: 'add', mapping: SAMPLE[2]! }, { op: 'add', mapping: { ...SAMPLE[1]!, internalAddress: '1.2.3.4; drop' } }]), (e) => isConegateError(e));
    assert.deepEqual(await b.list(), [SAMPLE[0]]);
    await b.flush();
  });

  test(`${label}: flush touches only its own owner's rules`, async () => {
    const a = await make('cga');
    const c = await make('cgc');
    await a.flush();
    await c.flush();
    await a.add(SAMPLE[0]!);
    await c.add({ ...SAMPLE[1]! });
    await a.flush();
    assert.deepEqual(await a.list(), []);
    assert.deepEqual(await c.list(), [SAMPLE[1]]);
    await c.flush();
    await a.flush();
  });
}
