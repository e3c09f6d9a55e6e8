/**
 * Test helpers for the relay client: an in-memory byte pipe and a scripted relay server end that
 * speaks the login (server key, sealed client info, sealed server info) with the real codec.
 */
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import * as f from '../frames.ts';
import { decodeMessage, type RelayMessage } from '../frames-message.ts';
import { openClientInfo, RELAY_PROTOCOL_VERSION, sealJson } from '../frames-seal.ts';
import type { ByteStream } from './conn.ts';

export const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

export function keyPair(): { secret: Uint8Array; public: Uint8Array } {
  const secret = x25519.utils.randomSecretKey();
  return { secret, public: x25519.getPublicKey(secret) };
}

/**
 * Two ends of a pipe; bytes written on one arrive (synchronously) on the other, or wait, like a
 * socket's, until that end has a data listener.
 */
export function pipe(): [ByteStream & { closed: boolean }, ByteStream & { closed: boolean }] {
  const make = () => ({ data: [] as ((c: Uint8Array) => void)[], close: [] as (() => void)[], early: [] as Uint8Array[] });
  const h = [make(), make()];
  const ends = [0, 1].map((i) => {
    const other = h[1 - i]!;
    const end = {
      closed: false,
      write(b: Uint8Array) {
        if (end.closed) return;
        if (other.data.length === 0) other.early.push(b.slice());
        for (const fn of other.data) fn(b.slice());
      },
      close() {
        if (end.closed) return;
        end.closed = true;
        ends[1 - i]!.closed = true;
        for (const fn of [...h[0]!.close, ...h[1]!.close]) fn();
      },
      onData: (fn: (c: Uint8Array) => void) => {
        h[i]!.data.push(fn);
        for (const b of h[i]!.early.splice(0)) fn(b);
      },
      onClose: (fn: () => void) => void h[i]!.close.push(fn),
    };
    return end;
  });
  return [ends[0]!, ends[1]!];
}

/** The server end of a pipe: answers the login and records every frame the client sent after it. */
export class ScriptedRelay {
  readonly server = keyPair();
  readonly received: RelayMessage[] = [];
  clientKey: Uint8Array | undefined;
  private readonly reader = new f.FrameReader();

  constructor(
    readonly end: ByteStream,
    private readonly opts: { answerLogin?: boolean } = {},
  ) {
    end.onData((c) => {
      for (const frame of this.reader.feed(c)) this.onFrame(frame);
    });
  }

  start(): void {
    this.end.write(f.encodeServerKey(this.server.public));
  }

  private onFrame(frame: f.Frame): void {
    const msg = decodeMessage(frame);
    if (!msg) return;
    if (msg.kind === 'client-info') {
      openClientInfo(msg.sealed, this.server.secret, msg.clientKey);
      this.clientKey = msg.clientKey;
      if (this.opts.answerLogin !== false) this.end.write(f.encodeServerInfo(sealJson({ version: RELAY_PROTOCOL_VERSION }, this.server.secret, msg.clientKey, rnd)));
      return;
    }
    this.received.push(msg);
  }
}
