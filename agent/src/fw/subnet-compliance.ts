/**
 * What every SubnetFirewall must do, as node:test cases: memory in unit tests, nftables in the lab
 * (test/lab/subnet-routing.test.ts), PF with the recording fake pfctl where available.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../errors.ts';
import type { SubnetFirewall } from './subnet-firewall.ts';
import type { SubnetPolicy } from './subnet-rules.ts';

const A: SubnetPolicy = { meshIf: 'cgt0', routes: [{ cidr: '10.2.0.0/24', lanIf: 'lan0' }, { cidr: 'fd00:b::/64', lanIf: 'lan0' }], snat: true };
const B: SubnetPolicy = { meshIf: 'cgt0', routes: [{ cidr: '10.3.0.0/24', lanIf: 'lan0' }], snat: false };

export function subnetFirewallCompliance(label: string, make: () => Promise<SubnetFirewall>): void {
  test(`${label}: load shows our prefixes; a second load replaces the first whole`, async () => {
    const fw = await make();
    await fw.load(A);
    const a = await fw.show();
    assert.match(a, /10\.2\.0\.0\/24/);
    assert.match(a, /fd00:b::\/64/);
    await fw.load(B);
    const b = await fw.show();
    assert.match(b, /10\.3\.0\.0\/24/);
    assert.doesNotMatch(b, /10\.2\.0\.0|fd00:b::|masquerade|nat on/, 'nothing of the first load is left; SNAT off has no nat rule');
    await fw.clear();
  });

  test(`${label}: a refused policy changes nothing`, async () => {
    const fw = await make();
    await fw.load(A);
    const before = await fw.show();
    await assert.rejects(fw.load({ ...A, routes: [{ cidr: '10.2.0.1/24' }] }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID');
    await assert.rejects(fw.load({ ...A, meshIf: 'bad name' }), isConegateError);
    assert.equal(await fw.show(), before);
    await fw.clear();
  });

  test(`${label}: clear removes everything of ours and is idempotent`, async () => {
    const fw = await make();
    await fw.load(A);
    await fw.clear();
    assert.equal((await fw.show()).trim(), '');
    await fw.clear();
    assert.equal((await fw.show()).trim(), '');
  });
}
