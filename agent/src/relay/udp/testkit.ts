/** Helpers for the UDP relay's tests: deterministic node keys and sealed control packets. */
import { createHash } from 'node:crypto';
import { keyToHex } from '../../wg/keys.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { decodeControlEnvelope, encodeControlPacket, openControl, type ControlMessage } from './codec.ts';
import { publicKeyOf, sharedBoxKey } from './seal.ts';

export interface TestNode {
  name: string;
  discoPrivate: Uint8Array;
  discoPublic: Uint8Array;
  discoHex: string;
  nodeKey: Uint8Array;
  nodeHex: string;
}

export function testNode(name: string): TestNode {
  const discoPrivate = Uint8Array.from(createHash('sha256').update(`disco ${name}`).digest());
  const discoPublic = publicKeyOf(discoPrivate);
  const nodeKey = publicKeyOf(Uint8Array.from(createHash('sha256').update(`node ${name}`).digest()));
  return { name, discoPrivate, discoPublic, discoHex: keyToHex(discoPublic), nodeKey, nodeHex: keyToHex(nodeKey) };
}

/** A map of mesh members, as the relay's deps want it. */
export function testMap(nodes: TestNode[]): { nodeForDisco(d: string): string | undefined; isMember(n: string): boolean; remove(n: TestNode): void } {
  const members = new Map(nodes.map((n) => [n.discoHex, n.nodeHex]));
  return {
    nodeForDisco: (d) => members.get(d),
    isMember: (n) => [...members.values()].includes(n),
    remove: (n) => void members.delete(n.discoHex),
  };
}

/** Deterministic "random" bytes: a counter through SHA-256. */
export function testRandom(seed = 'seed'): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) out.set(createHash('sha256').update(`${seed} ${i++}`).digest().subarray(0, Math.min(32, n - o)), o);
    return out;
  };
}

export function sealFrom(from: TestNode, toDiscoPublic: Uint8Array, m: ControlMessage): Uint8Array {
  return encodeControlPacket(m, from.discoPublic, sharedBoxKey(from.discoPrivate, toDiscoPublic)!, new Uint8Array(24).fill(7));
}

export function openAt(to: TestNode, packet: Uint8Array): ControlMessage {
  const env = decodeControlEnvelope(packet);
  return openControl(env, sharedBoxKey(to.discoPrivate, env.senderKey)!);
}

export interface Sent {
  packet: Uint8Array;
  to: Endpoint;
}

/** One UDP socket on loopback as a one-socket SocketSet (what the path router's socket set gives the client). */
export async function loopbackSocket(): Promise<{
  send(socket: number, packet: Uint8Array, to: Endpoint): void;
  onReceive(h: (packet: Uint8Array, from: Endpoint, socket: number) => void): void;
  port: number;
  close(): Promise<void>;
}> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  let handler: (packet: Uint8Array, from: Endpoint, socket: number) => void = () => undefined;
  s.on('message', (msg, rinfo) => handler(msg, rinfo, 0));
  s.on('error', () => undefined);
  return {
    send: (_socket, packet, to) => s.send(packet, to.port, to.address, () => undefined),
    onReceive: (h) => void (handler = h),
    port: s.address().port,
    close: () => new Promise<void>((resolve) => s.close(() => resolve())),
  };
}

/** Resolves when cond() holds, checking on every event-loop turn; rejects after `timeoutMs` with `what`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
