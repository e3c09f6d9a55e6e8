/**
 * What the router needs of the discovery codec (agent/src/disco): seal a message for a peer's
 * discovery key, open a received one from a known sender. `open` never throws: a packet that does not
 * open (unknown sender, bad box, replay, a message type this version does not know) is undefined and
 * the router counts it.
 */
import { DecodeError } from '../errors.ts';
import type { DiscoSealer } from '../disco/sealer.ts';
import type { DiscoMessage } from '../disco/types.ts';
import type { DiscoKeyHex } from './types.ts';

export interface DiscoBox {
  seal(to: DiscoKeyHex, message: DiscoMessage): Uint8Array;
  open(packet: Uint8Array, isKnown: (sender: DiscoKeyHex) => boolean): { from: DiscoKeyHex; message: DiscoMessage } | undefined;
}

export function sealerBox(sealer: DiscoSealer): DiscoBox {
  return {
    seal: (to, message) => sealer.seal(to, message),
    open(packet, isKnown) {
      try {
        const o = sealer.open(packet, isKnown);
        return o.message ? { from: o.senderHex, message: o.message } : undefined;
      } catch (err) {
        if (err instanceof DecodeError) return undefined;
        throw err;
      }
    },
  };
}
