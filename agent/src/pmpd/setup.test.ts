import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { networkInterfaces } from 'node:os';
import { lanProblems, resolveLan } from './setup.ts';

const addr = (address: string, prefix: number, internal = false) => ({ address, netmask: '', family: 'IPv4', mac: '', internal, cidr: `${address}/${prefix}` });
const IFS = {
  lo: [addr('127.0.0.1', 8, true)],
  lan0: [addr('192.168.1.1', 24)],
  wan0: [addr('203.0.113.5', 24)],
} as unknown as ReturnType<typeof networkInterfaces>;

function refused(specs: string[], wan: string | undefined, field: RegExp, why: RegExp, fieldName?: string) {
  assert.throws(
    () => resolveLan(specs, IFS, fieldName ? { wan, field: fieldName } : { wan }),
    (err: { code?: string; message?: string }) => err.code === 'CG_CONFIG_INVALID' && field.test(err.message ?? '') && why.test(err.message ?? ''),
    `${specs.join(',')} should be refused`,
  );
}

test('pmp.lan safe by construction: /0, the unspecified address, addresses not on this host, the WAN, wider than the subnet are refused naming the field', () => {
  refused(['0.0.0.0/0'], 'wan0', /^pmp\.lan\[0\]: "0\.0\.0\.0\/0"/, /every address/);
  refused(['lan0', '192.168.1.1/0'], 'wan0', /pmp\.lan\[1\]/, /prefix \/0/);
  refused(['0.0.0.0'], 'wan0', /pmp\.lan\[0\]/, /unspecified/);
  refused(['10.9.9.9'], 'wan0', /pmp\.lan\[0\]/, /not an address of any interface on this host/);
  refused(['10.9.9.9/24'], 'wan0', /pmp\.lan\[0\]/, /not an address of any interface/);
  refused(['wan0'], 'wan0', /pmp\.lan\[0\]/, /WAN interface/);
  refused(['203.0.113.5'], 'wan0', /pmp\.lan\[0\]/, /on wan0, the WAN interface/);
  refused(['203.0.113.5/24'], '203.0.113.5', /pmp\.lan\[0\]/, /WAN interface/);
  refused(['lan0'], '192.168.1.1', /pmp\.lan\[0\]/, /WAN/);
  refused(['192.168.1.1/16'], 'wan0', /pmp\.lan\[0\]/, /wider than the subnet on lan0/);
  refused(['nosuch0'], 'wan0', /--lan\[0\]/, /does not exist/, '--lan');
});

test('pmp.lan: an interface, an address on one, or a narrower prefix are accepted; a WAN given as a public address elsewhere is no conflict', () => {
  assert.deepEqual(resolveLan(['lan0'], IFS, { wan: 'wan0' }), [{ address: '192.168.1.1', prefixLen: 24, ifname: 'lan0' }]);
  assert.deepEqual(resolveLan(['192.168.1.1'], IFS, { wan: 'wan0' }), [{ address: '192.168.1.1', prefixLen: 24, ifname: 'lan0' }]);
  assert.deepEqual(resolveLan(['192.168.1.1/28'], IFS, { wan: '198.51.100.1' }), [{ address: '192.168.1.1', prefixLen: 28, ifname: 'lan0' }]);
});

test('config validate host checks for pmp.lan: every problem with its field; unknown names are left to the interface check', () => {
  assert.deepEqual(lanProblems(['lan0', '192.168.1.1'], 'wan0', IFS), []);
  const p = lanProblems(['0.0.0.0/0', 'nosuch0', 'wan0'], 'wan0', IFS);
  assert.equal(p.length, 2);
  assert.match(p[0]!, /^pmp\.lan\[0\]: "0\.0\.0\.0\/0" covers every address/);
  assert.match(p[1]!, /^pmp\.lan\[2\]: "wan0" is the WAN interface/);
});
