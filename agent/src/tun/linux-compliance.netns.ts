/**
 * The TUN compliance suite against the real Linux device. Run inside a network namespace by
 * test/interop/wg/tun-linux.test.ts (`ip netns exec NS node --import tsx --test <this file>`), because the
 * interface appears in the namespace of the process that creates it.
 */
import { describe } from 'node:test';
import { tunCompliance } from './compliance.ts';
import { applyPlan, planLinux } from './ifconfig.ts';
import { openLinuxTun } from './linux.ts';

let n = 0;

describe('Linux TUN compliance', () => {
  tunCompliance(async () => {
    const name = `cgtun${n++}`;
    const tun = openLinuxTun({ name, mtu: 1400 });
    await applyPlan(planLinux({ name, mtu: 1400, addresses: ['100.64.7.1/24', '2001:db8:7::1/64'], routes: [] }));
    return { tun, expectedName: name, expectedMtu: 1400, local4: '100.64.7.1', remote4: '100.64.7.2', local6: '2001:db8:7::1', remote6: '2001:db8:7::2' };
  });
});
