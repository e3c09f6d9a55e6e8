/** Shared helpers for pmpd unit tests and the lab tests: a core on a fake clock and a memory backend. */
import { FakeClock } from '../clock/clock.ts';
import { silentLogger } from '../log/logger.ts';
import { MemoryBackend } from '../fw/memory.ts';
import { parseCidr } from '../net/ip.ts';
import { PmpCore, type CoreOptions } from './core.ts';
import type { PmpPolicy } from './policy.ts';
import type { Announcement } from './announce.ts';

/** The config defaults as a policy for the LAN 192.168.1.0/24. */
export function defaultPolicy(over: Partial<PmpPolicy> = {}): PmpPolicy {
  return {
    allow: [parseCidr('192.168.1.0/24')!],
    internalPorts: { from: 1024, to: 65535 },
    externalPorts: { from: 1024, to: 65535 },
    allowPrivilegedPorts: false,
    maxMappingsPerClient: 16,
    maxMappings: 1024,
    maxLifetimeSec: 7200,
    minLifetimeSec: 120,
    allowThirdParty: false,
    meshPortOnly: false,
    meshPorts: [41641],
    reservedExternalPorts: [5351],
    requestsPerClientPerSec: 20,
    ...over,
  };
}

export interface TestCore {
  core: PmpCore;
  clock: FakeClock;
  backend: MemoryBackend;
  sent: { a: Announcement; packet: Uint8Array; atMs: number }[];
}

export function makeCore(opts: Partial<Omit<CoreOptions, 'policy'>> & { policy?: Partial<PmpPolicy>; backend?: MemoryBackend; clock?: FakeClock; wallNowMs?: () => number } = {}, externalAddress: string | null = '203.0.113.1'): TestCore {
  const clock = opts.clock ?? new FakeClock(1_000_000);
  const backend = opts.backend ?? new MemoryBackend();
  const sent: TestCore['sent'] = [];
  const { policy, backend: _b, clock: _c, wallNowMs, ...rest } = opts;
  const core = new PmpCore(
    { backendCheckMs: 30_000, persistDelayMs: 100, ...rest, policy: defaultPolicy(policy) },
    { clock, log: silentLogger(), backend, announce: (a, packet) => sent.push({ a, packet, atMs: clock.nowMs() }), wallNowMs: wallNowMs ?? (() => 1_700_000_000_000 + clock.nowMs()) },
    externalAddress ?? undefined,
  );
  return { core, clock, backend, sent };
}

export const LAN = { address: '192.168.1.10', port: 40001 };
