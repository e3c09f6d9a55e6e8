/**
 * The bind challenge (pure): a MAC over VNI, generation, the client's node key and the source ip:port
 * the bind came from, keyed by a relay secret that rotates every 2 minutes (the previous secret is still
 * accepted, so a bind begun just before a rotation completes). The relay keeps no state per pending
 * bind, like a SYN cookie: only a client that receives the challenge at the source it claims can answer,
 * so a spoofed source cannot bind an endpoint.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseIp, toMappedV6 } from '../../net/ip.ts';
import type { Endpoint } from '../../wg/ports.ts';

export const SECRET_ROTATE_MS = 120_000;
const LABEL = Buffer.from('conegate udp relay challenge v1');

export class ChallengeSecrets {
  private current: Uint8Array;
  private previous: Uint8Array | undefined;
  private rotatedAtMs: number;

  constructor(
    private readonly randomBytes: (n: number) => Uint8Array,
    nowMs: number,
    private readonly rotateMs = SECRET_ROTATE_MS,
  ) {
    this.current = randomBytes(32);
    this.rotatedAtMs = nowMs;
  }

  /** Rotates when due; returns the time of the next rotation. */
  tick(nowMs: number): number {
    if (nowMs - this.rotatedAtMs >= this.rotateMs) {
      this.previous = this.current;
      this.current = this.randomBytes(32);
      this.rotatedAtMs = nowMs;
    }
    return this.rotatedAtMs + this.rotateMs;
  }

  issue(vni: number, generation: number, nodeKey: Uint8Array, source: Endpoint, nowMs: number): Uint8Array {
    this.tick(nowMs);
    return mac(this.current, vni, generation, nodeKey, source);
  }

  verify(answer: Uint8Array, vni: number, generation: number, nodeKey: Uint8Array, source: Endpoint, nowMs: number): boolean {
    this.tick(nowMs);
    if (answer.length !== 32) return false;
    for (const secret of [this.current, this.previous]) {
      if (secret && timingSafeEqual(answer, mac(secret, vni, generation, nodeKey, source))) return true;
    }
    return false;
  }
}

function mac(secret: Uint8Array, vni: number, generation: number, nodeKey: Uint8Array, source: Endpoint): Uint8Array {
  const ip = parseIp(source.address);
  const addr = ip ? (ip.family === 4 ? toMappedV6(ip.bytes) : ip.bytes) : new Uint8Array(16);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(vni >>> 0, 0);
  fixed.writeUInt32BE(generation >>> 0, 4);
  fixed.writeUInt16BE(source.port & 0xffff, 8);
  return createHmac('sha256', secret).update(LABEL).update(fixed).update(nodeKey).update(addr).digest();
}
