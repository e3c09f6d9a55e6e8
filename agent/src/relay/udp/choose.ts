/**
 * The relay node for a pair, pure: both sides compute it from the same network map, so both allocate on
 * one relay without talking first (the relay gives the two halves of a pair the same VNI).
 */
import { createHash } from 'node:crypto';
import { parseHostPort } from '../../net/ip.ts';
import type { NodeKeyHex, UdpRelayNode } from './types.ts';

export interface MeshMember {
  nodeKey: NodeKeyHex;
  discoKey: string;
  udpRelay?: string;
}

/**
 * Among peers that advertise a relay (never a or b themselves), the one with the highest hash of (pair,
 * relay key): rendezvous hashing, so both sides pick the same one, and pairs spread over the relays there are.
 */
export function chooseUdpRelay(a: NodeKeyHex, b: NodeKeyHex, members: Iterable<MeshMember>): UdpRelayNode | undefined {
  const pair = a < b ? `${a}${b}` : `${b}${a}`;
  let best: { score: string; node: UdpRelayNode } | undefined;
  for (const m of members) {
    if (!m.udpRelay || m.nodeKey === a || m.nodeKey === b) continue;
    const hp = parseHostPort(m.udpRelay);
    if (!hp) continue;
    const score = createHash('sha256').update(pair).update(m.nodeKey).digest('hex');
    if (!best || score > best.score) best = { score, node: { endpoint: { address: hp.host, port: hp.port }, nodeKey: m.nodeKey, discoKey: m.discoKey } };
  }
  return best?.node;
}
