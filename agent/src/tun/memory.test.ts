import { describe } from 'node:test';
import { MemoryTun } from '../wg/memory-tun.ts';
import { attachEchoResponder, tunCompliance } from './compliance.ts';

describe('MemoryTun compliance', () => {
  tunCompliance(async () => {
    const tun = new MemoryTun('mem0', 1420);
    const h = { tun, expectedName: 'mem0', expectedMtu: 1420, local4: '100.64.7.1', remote4: '100.64.7.2', local6: '2001:db8:7::1', remote6: '2001:db8:7::2' };
    attachEchoResponder(tun, [h.local4, h.local6]);
    return h;
  });
});
