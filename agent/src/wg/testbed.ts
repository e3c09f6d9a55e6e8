/**
 * Two devices on a memory network with a FakeClock, for the device tests and the in-memory benchmark.
 * Deterministic: seeded randomness, a fixed wall clock that moves with the fake clock, zero jitter.
 */
import { FakeClock } from '../clock/clock.ts';
import { createHash } from 'node:crypto';
import { WgDevice } from './device.ts';
import type { SessionLimits } from './session.ts';
import { generatePrivateKey, publicKey } from './keys.ts';
import { MemoryNetwork, type MemoryBind } from './memory-bind.ts';
import { MemoryTun } from './memory-tun.ts';
import type { Endpoint } from './ports.ts';
import type { DeviceConfig } from './types.ts';

/** A deterministic byte stream (SHA-256 in counter mode) standing in for randomBytes in tests. */
export function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

export interface Node {
  dev: WgDevice;
  bind: MemoryBind;
  tun: MemoryTun;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  at: Endpoint;
  tunAddress: string;
}

export interface Testbed {
  clock: FakeClock;
  net: MemoryNetwork;
  a: Node;
  b: Node;
  /** Advances the fake clock and lets the network drain after every timer. */
  advance(ms: number): Promise<void>;
  stop(): void;
}

export const WALL_EPOCH_MS = Date.UTC(2026, 0, 1);

export function makeTestbed(
  opts: {
    seed?: string;
    configA?: Partial<DeviceConfig>;
    configB?: Partial<DeviceConfig>;
    endpointsKnown?: 'both' | 'a-knows-b';
    mtu?: number;
    /** Message limits for both devices (small values make REKEY/REJECT_AFTER_MESSAGES reachable). */
    limits?: SessionLimits;
    /** Handshake retry jitter of B in ms (A's is always 0); default 0. */
    jitterB?: number;
  } = {},
): Testbed {
  const seed = opts.seed ?? 'testbed';
  const clock = new FakeClock(1_000_000);
  const net = new MemoryNetwork();
  const wallClockMs = (): number => WALL_EPOCH_MS + clock.nowMs();
  const mk = (name: 'a' | 'b', last: number): Omit<Node, 'dev'> => {
    const rnd = seededRandom(`${seed}:${name}:key`);
    const privateKey = generatePrivateKey(rnd);
    const at = { address: `192.0.2.${last}`, port: 51820 };
    return { bind: net.bind(at), tun: new MemoryTun(`wg${name}`, opts.mtu ?? 1420), privateKey, publicKey: publicKey(privateKey), at, tunAddress: `10.9.0.${last}` };
  };
  const na = mk('a', 1);
  const nb = mk('b', 2);
  const known = opts.endpointsKnown ?? 'both';
  const build = (self: Omit<Node, 'dev'>, other: Omit<Node, 'dev'>, name: string, extra: Partial<DeviceConfig> | undefined, knowsEndpoint: boolean): Node => {
    const dev = new WgDevice(
      {
        privateKey: self.privateKey,
        peers: [{ publicKey: other.publicKey, allowedIps: [`${other.tunAddress}/32`], ...(knowsEndpoint ? { endpoint: other.at } : {}) }],
        ...extra,
      },
      {
        clock,
        bind: self.bind,
        tun: self.tun,
        randomBytes: seededRandom(`${seed}:${name}:dev`),
        wallClockMs,
        jitterMs: () => (name === 'b' ? (opts.jitterB ?? 0) : 0),
        ...(opts.limits ? { limits: opts.limits } : {}),
      },
    );
    dev.start();
    return { ...self, dev };
  };
  const a = build(na, nb, 'a', opts.configA, true);
  const b = build(nb, na, 'b', opts.configB, known === 'both');
  return {
    clock,
    net,
    a,
    b,
    async advance(ms: number) {
      const step = 1000;
      for (let left = ms; left > 0; left -= step) {
        clock.advance(Math.min(step, left));
        await net.idle();
      }
    },
    stop() {
      a.dev.stop();
      b.dev.stop();
    },
  };
}

/** A minimal IPv4 packet (no options; checksums are not the tunnel's business). */
export function ipv4Packet(src: string, dst: string, payload: Uint8Array | number = 20): Uint8Array {
  const body = typeof payload === 'number' ? Uint8Array.from({ length: payload }, (_, i) => i & 0xff) : payload;
  const p = new Uint8Array(20 + body.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.set(body, 20);
  return p;
}
