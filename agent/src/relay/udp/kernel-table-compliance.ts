/**
 * The one behaviour every KernelForwardTable must have, as node:test cases: against the memory twin in
 * unit tests (kernel-table-memory.test.ts) and against nftables in a lab namespace
 * (test/lab/udp-relay-kernel.test.ts). `make()` returns a fresh, empty table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../../errors.ts';
import { counterNames, type KernelPair } from './kernel-forward-plan.ts';
import type { KernelForwardTable } from './kernel-table.ts';

const RELAY = { address: '203.0.113.3', port: 41642 };
const A: KernelPair = { vni: 0x123456, sources: [{ address: '192.0.2.1', port: 40000 }, { address: '198.51.100.2', port: 50000 }] };
const B: KernelPair = { vni: 0x000007, sources: [{ address: '192.0.2.9', port: 1 }, { address: '198.51.100.9', port: 65535 }] };

export function kernelTableCompliance(label: string, make: () => Promise<KernelForwardTable>): void {
  test(`${label}: a bound pair is installed with one counter per hook and direction`, async () => {
    const t = await make();
    try {
      assert.deepEqual(await t.installed(), []);
      await t.apply([A], RELAY);
      assert.deepEqual(await t.installed(), [A]);
      const c = await t.readCounters();
      const n = counterNames(A.vni);
      for (const name of [...n.pre, ...n.post]) assert.deepEqual(c.get(name), { packets: 0, bytes: 0 }, name);
    } finally {
      await t.close();
    }
  });

  test(`${label}: a rebind replaces the pair's rules, expiry deletes them and their counters`, async () => {
    const t = await make();
    try {
      await t.apply([A, B], RELAY);
      const rebound: KernelPair = { vni: A.vni, sources: [{ address: '192.0.2.1', port: 40001 }, A.sources[1]] };
      await t.apply([rebound, B], RELAY);
      assert.deepEqual(await t.installed(), [B, rebound]);
      await t.apply([rebound], RELAY);
      assert.deepEqual(await t.installed(), [rebound]);
      const names = [...(await t.readCounters()).keys()].sort();
      assert.deepEqual(names, [...counterNames(A.vni).pre, ...counterNames(A.vni).post].sort());
      await t.apply([], RELAY);
      assert.deepEqual(await t.installed(), []);
      assert.equal((await t.readCounters()).size, 0);
    } finally {
      await t.close();
    }
  });

  test(`${label}: close removes everything and is idempotent`, async () => {
    const t = await make();
    await t.apply([A], RELAY);
    await t.close();
    await t.close();
    assert.deepEqual(await t.installed(), []);
  });

  test(`${label}: a refused load is a ConegateError and changes nothing`, async () => {
    const t = await make();
    try {
      await t.apply([A], RELAY);
      // A port nft cannot hold, after a good pair in the same load: refused whole, never half installed.
      const bad: KernelPair = { vni: B.vni, sources: [B.sources[0], { address: '198.51.100.9', port: 70000 }] };
      const refused = await t.apply([A, bad], RELAY).then(() => undefined, (e: unknown) => e);
      assert.ok(isConegateError(refused), 'refused');
      assert.deepEqual(await t.installed(), [A]);
    } finally {
      await t.close();
    }
  });
}
