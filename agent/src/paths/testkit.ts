/**
 * Test stand-ins for the router tests (not used by the product): an in-memory relay hub whose links
 * implement RelayLink, and a discovery "box" that frames messages as JSON behind the demux magic with
 * no cryptography (the real codec lives in agent/src/disco).
 */
import type { RelayMap } from '../coord/protocol.ts';
import type { DiscoMessage } from '../disco/types.ts';
import { DISCO_MAGIC } from '../mesh/demux.ts';
import type { DiscoBox } from './disco-box.ts';
import type { DiscoKeyHex, NodeKeyHex, RelayLink, RelayLinkStatus } from './types.ts';

type RecvHandler = (src: NodeKeyHex, packet: Uint8Array, region: string) => void;

export class StandInRelayHub {
  private readonly links = new Map<NodeKeyHex, StandInRelayLink>();
  delivered = 0;
  dropped = 0;

  link(key: NodeKeyHex, home = 'r1'): StandInRelayLink {
    const l = new StandInRelayLink(this, key, home);
    this.links.set(key, l);
    return l;
  }

  /** @internal Asynchronous like a socket: never re-enters the sender. */
  forward(src: NodeKeyHex, dst: NodeKeyHex, packet: Uint8Array, region: string): void {
    queueMicrotask(() => {
      const to = this.links.get(dst);
      if (!to || to.closed) {
        this.dropped++;
        return;
      }
      this.delivered++;
      to.receive(src, packet, region);
    });
  }
}

export class StandInRelayLink implements RelayLink {
  closed = false;
  sent = 0;
  private handler: RecvHandler | undefined;
  constructor(private readonly hub: StandInRelayHub, readonly key: NodeKeyHex, private readonly homeRegion: string) {}
  send(region: string, dst: NodeKeyHex, packet: Uint8Array): void {
    if (this.closed) return;
    this.sent++;
    this.hub.forward(this.key, dst, packet, region);
  }
  onReceive(handler: RecvHandler): void {
    this.handler = handler;
  }
  onPeerGone(): void {}
  setRelayMap(_map: RelayMap): void {}
  home(): string | undefined {
    return this.homeRegion;
  }
  onHomeChange(): void {}
  status(): RelayLinkStatus {
    return { home: this.homeRegion, regions: [{ id: this.homeRegion, connected: !this.closed }] };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** @internal */
  receive(src: NodeKeyHex, packet: Uint8Array, region: string): void {
    this.handler?.(src, packet, region);
  }
}

const hexToBytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

/** Magic | sender disco key (32) | JSON. Byte arrays travel as {"$b": hex}. */
export function plainDiscoBox(self: DiscoKeyHex): DiscoBox & { opened: number } {
  const box = {
    opened: 0,
    seal(_to: DiscoKeyHex, message: DiscoMessage): Uint8Array {
      const json = JSON.stringify(message, (_k, v: unknown) => (v instanceof Uint8Array ? { $b: Buffer.from(v).toString('hex') } : v));
      return Uint8Array.from([...DISCO_MAGIC, ...hexToBytes(self), ...Buffer.from(json)]);
    },
    open(packet: Uint8Array): { from: DiscoKeyHex; message: DiscoMessage } | undefined {
      if (packet.length < DISCO_MAGIC.length + 32) return undefined;
      const from = Buffer.from(packet.subarray(6, 38)).toString('hex');
      try {
        const message = JSON.parse(Buffer.from(packet.subarray(38)).toString(), (_k, v: unknown) => (v && typeof v === 'object' && '$b' in v ? hexToBytes((v as { $b: string }).$b) : v)) as DiscoMessage;
        box.opened++;
        return { from, message };
      } catch {
        return undefined;
      }
    },
  };
  return box;
}
