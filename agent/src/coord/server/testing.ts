/**
 * Test helpers for the coordinator: a Coordinator over the memory store with a FakeClock and a
 * settable wall clock, signed in-process requests (fastify inject) and an admin shortcut.
 */
import { FakeClock } from '../../clock/clock.ts';
import { createLogger } from '../../log/logger.ts';
import { newMachineKey, signRequest, type MachineKeyPair } from '../sign.ts';
import { MemoryData, MemoryStore } from '../store/memory.ts';
import type { CoordStore } from '../store/types.ts';
import { Coordinator, type CoordinatorConfig } from './coordinator.ts';

export const T0 = 1_800_000_000_000;

/** Deterministic bytes: a counter, so every key and id in a test run differs and repeats across runs. */
export function countingBytes(): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    i++;
    const out = new Uint8Array(n);
    for (let j = 0; j < n; j++) out[j] = (i * 31 + j * 7 + (i >> 8)) & 0xff;
    out[0] = i & 0xff;
    out[1] = (i >> 8) & 0xff;
    return out;
  };
}

export interface TestCoord {
  coord: Coordinator;
  store: CoordStore;
  clock: FakeClock;
  wall: { nowMs: number };
  bytes: (n: number) => Uint8Array;
  /** A new node identity (machine key). */
  machine(): MachineKeyPair;
  request(key: MachineKeyPair, method: 'GET' | 'POST', url: string, body?: unknown, opts?: { timeMs?: number; rawBody?: string }): Promise<{ statusCode: number; json: () => any; body: string }>;
  admin(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ statusCode: number; json: () => any }>;
  /** An auth key secret from the admin API. */
  authKey(opts?: { reusable?: boolean; expiresInSec?: number; tags?: string[] }): Promise<string>;
  register(key: MachineKeyPair, authKey: string | undefined, hostname?: string, extra?: Record<string, unknown>): Promise<{ statusCode: number; json: () => any }>;
  stop(): Promise<void>;
}

export async function testCoordinator(config: Partial<CoordinatorConfig> = {}, data = new MemoryData()): Promise<TestCoord> {
  const clock = new FakeClock(0);
  const wall = { nowMs: T0 };
  const bytes = countingBytes();
  const store = new MemoryStore({ data, randomBytes: bytes });
  const coord = new Coordinator(
    { host: '127.0.0.1', port: 0, prefix6: 'fd7a:115c:a1e0::/48', ...config },
    { store, clock, wallNowMs: () => wall.nowMs, random: () => 0.5, randomBytes: bytes, log: createLogger({ level: 'silent' }) },
  );
  await coord.start({ listen: false });
  const hexKey = () => Buffer.from(bytes(32)).toString('hex');
  const t: TestCoord = {
    coord,
    store,
    clock,
    wall,
    bytes,
    machine: () => newMachineKey(bytes),
    async request(key, method, url, body, opts = {}) {
      const payload = opts.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
      const auth = signRequest(key, method, url, payload, opts.timeMs ?? wall.nowMs);
      const headers: Record<string, string> = { authorization: auth };
      if (payload !== '') headers['content-type'] = 'application/json';
      const res = await coord.app.inject({ method, url, headers, payload: payload === '' ? undefined : payload });
      return { statusCode: res.statusCode, json: () => res.json(), body: res.body };
    },
    async admin(method, url, body) {
      const res = await coord.admin.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
      return { statusCode: res.statusCode, json: () => res.json() };
    },
    async authKey(opts = {}) {
      const r = await t.admin('POST', '/admin/authkeys', opts);
      if (r.statusCode !== 200) throw new Error(`authkey create: ${r.statusCode}`);
      return r.json().secret as string;
    },
    register(key, authKey, hostname = 'node', extra = {}) {
      return t.request(key, 'POST', '/v1/register', { ...(authKey === undefined ? {} : { authKey }), nodeKey: hexKey(), discoKey: hexKey(), hostname, ...extra });
    },
    stop: () => coord.stop(),
  };
  return t;
}
