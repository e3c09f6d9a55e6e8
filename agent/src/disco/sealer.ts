/**
 * What the path loop uses to seal and open discovery datagrams with this node's discovery key: box keys
 * cached per peer (an X25519 per packet would cost more than the rest of the path), random nonces from
 * the injected `randomBytes`, and the replay window. Opening refuses unknown senders before any crypto
 * (the loop passes the keys of the network map), so junk costs neither CPU nor memory.
 */
import { DecodeError } from '../errors.ts';
import { BOX_NONCE_LEN, boxKey } from './box.ts';
import { discoSender, openDisco, sealDisco, type OpenedDisco } from './codec.ts';
import { ReplayGuard, type ReplayOptions } from './replay.ts';
import type { DiscoMessage } from './types.ts';

export interface DiscoSealerDeps {
  randomBytes: (n: number) => Uint8Array;
  /** Wall-clock Unix ms (the send time crosses nodes, so monotonic time will not do). */
  wallMs: () => number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const KEY_CACHE_MAX = 4096;

export class DiscoSealer {
  readonly publicKeyHex: string;
  private readonly keys = new Map<string, Uint8Array>();
  private readonly guard: ReplayGuard;

  constructor(
    private readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
    private readonly deps: DiscoSealerDeps,
    replay: ReplayOptions = {},
  ) {
    this.publicKeyHex = hex(publicKey);
    this.guard = new ReplayGuard(replay);
  }

  seal(toHex: string, m: DiscoMessage): Uint8Array {
    const nonce = this.deps.randomBytes(BOX_NONCE_LEN);
    return sealDisco(this.keyFor(toHex), this.publicKey, nonce, m, Math.floor(this.deps.wallMs()));
  }

  /**
   * Opens a datagram from a sender the caller knows (`isKnown`), checks the replay window and returns it.
   * Throws DecodeError with reason 'unknown sender', 'box does not open ...', 'replay: stale' etc.
   */
  open(b: Uint8Array, isKnown: (senderHex: string) => boolean): OpenedDisco & { senderHex: string } {
    const senderHex = hex(discoSender(b));
    if (!isKnown(senderHex)) throw new DecodeError('unknown sender');
    const opened = openDisco(this.keyFor(senderHex), b);
    const verdict = this.guard.check(senderHex, hex(opened.nonce), opened.sentAtMs, Math.floor(this.deps.wallMs()));
    if (verdict !== 'ok') throw new DecodeError(`replay: ${verdict}`);
    return { ...opened, senderHex };
  }

  /** Nonces remembered by the replay window (bounded; for status and tests). */
  replayMemory(): number {
    return this.guard.size();
  }

  private keyFor(peerHex: string): Uint8Array {
    let k = this.keys.get(peerHex);
    if (k) return k;
    if (!/^[0-9a-f]{64}$/.test(peerHex)) throw new DecodeError('discovery key is not 32 bytes of hex');
    try {
      k = boxKey(this.privateKey, Buffer.from(peerHex, 'hex'));
    } catch {
      throw new DecodeError('discovery key of low order');
    }
    if (this.keys.size >= KEY_CACHE_MAX) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(peerHex, k);
    return k;
  }
}
