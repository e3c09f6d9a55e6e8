/**
 * What the router needs of the discovery codec (agent/src/disco): seal a message for a peer's
 * discovery key, open a received one. The node builds it from its discovery key pair; tests use a
 * plain stand-in. `open` never throws: a packet that does not open (bad box, unknown sender, replay)
 * is undefined and the router counts it.
 */
import type { DiscoMessage } from '../disco/types.ts';
import type { DiscoKeyHex } from './types.ts';

export interface DiscoBox {
  seal(to: DiscoKeyHex, message: DiscoMessage): Uint8Array;
  open(packet: Uint8Array): { from: DiscoKeyHex; message: DiscoMessage } | undefined;
}
