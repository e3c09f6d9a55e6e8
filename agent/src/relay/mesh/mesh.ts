/**
 * High availability inside a region: this relay dials every other relay of the region with the shared
 * mesh key, sends watch-conns, and learns from their peer-present / peer-gone which node keys each of
 * them holds. A packet for such a key is sent once, as a forward frame on that link; the receiving
 * relay delivers it to its own client or drops it, never forwards again (relay-server.ts), so two
 * relays cannot bounce a packet between them.
 *
 * A lost link is redialled with backoff (250 ms doubling to 5 s); the keys it announced are forgotten
 * at once and their senders here get peer-gone, so packets for them are dropped (and discovery
 * answered "not here") until the client shows up again, here or on another relay of the region.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import type { TlsTrust } from '../../node/tls-connect.ts';
import { encodeForward, encodeWatchConns } from '../frames.ts';
import type { RelayMessage } from '../frames-message.ts';
import type { MeshForwarder } from '../server/relay-server.ts';
import { dialRelay, type DialOptions, type RelayLink } from './dial.ts';

export interface MeshPeer {
  url: string;
  trust: TlsTrust;
}

export interface RelayMeshConfig {
  peers: MeshPeer[];
  /** 64 hex chars. */
  meshKey: string;
  /** This relay's own X25519 private key (it logs in to its peers with it). */
  secret: Uint8Array;
  backoffStartMs?: number;
  backoffMaxMs?: number;
  /** A link holding more unsent bytes than this drops forwards instead of buffering them. */
  maxLinkBufferBytes?: number;
}

export interface RelayMeshDeps {
  clock: Clock;
  log: Logger;
  dial?: (o: DialOptions) => Promise<RelayLink>;
}

interface PeerState {
  peer: MeshPeer;
  link: RelayLink | undefined;
  keys: Set<string>;
  backoffMs: number;
  cancelRetry: CancelTimer | undefined;
}

export class RelayMesh implements MeshForwarder {
  /** Called when another relay of the region says a key left it (the server tells whoever sent to it). */
  onPeerGone: (key: Uint8Array, keyHex: string) => void = () => {};
  private readonly holders = new Map<string, PeerState>();
  /** When each holder's peer-present arrived (the server prefers it over an older local connection). */
  private readonly presentAt = new Map<string, number>();
  private readonly states: PeerState[];
  private running = false;
  dropped = 0;

  constructor(private readonly config: RelayMeshConfig, private readonly deps: RelayMeshDeps) {
    this.states = config.peers.map((peer) => ({ peer, link: undefined, keys: new Set(), backoffMs: config.backoffStartMs ?? 250, cancelRetry: undefined }));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const s of this.states) void this.connect(s);
  }

  stop(): void {
    this.running = false;
    for (const s of this.states) {
      s.cancelRetry?.();
      s.cancelRetry = undefined;
      s.link?.close();
    }
  }

  /** Whether a relay of the region announced this key (tests and status). */
  holds(keyHex: string): boolean {
    return this.holders.has(keyHex);
  }

  heldSinceMs(keyHex: string): number | undefined {
    return this.holders.get(keyHex)?.link ? this.presentAt.get(keyHex) : undefined;
  }

  /** Links up, of all peers configured. */
  linksUp(): number {
    return this.states.filter((s) => s.link).length;
  }

  forward(src: Uint8Array, dst: Uint8Array, dstHex: string, data: Uint8Array): boolean {
    const s = this.holders.get(dstHex);
    if (!s?.link) return false;
    if (s.link.socket.writableLength > (this.config.maxLinkBufferBytes ?? 4 * 1024 * 1024)) {
      this.dropped++;
      return true;
    }
    s.link.write(encodeForward(src, dst, data));
    return true;
  }

  private async connect(s: PeerState): Promise<void> {
    if (!this.running) return;
    let link: RelayLink;
    try {
      link = await (this.deps.dial ?? dialRelay)({ url: s.peer.url, trust: s.peer.trust, secret: this.config.secret, meshKey: this.config.meshKey, clock: this.deps.clock });
    } catch (err) {
      this.deps.log.warn({ err, peer: s.peer.url }, 'relay mesh: cannot reach a relay of the region; retrying');
      return this.retry(s);
    }
    if (!this.running) return link.close();
    s.link = link;
    s.backoffMs = this.config.backoffStartMs ?? 250;
    this.deps.log.info({ peer: s.peer.url }, 'relay mesh: linked');
    link.onMessage((m) => this.onMessage(s, m));
    link.onClose(() => {
      if (s.link !== link) return;
      s.link = undefined;
      // The relay is gone, and with it every client it held, as far as this relay can tell.
      for (const k of s.keys) {
        if (this.holders.get(k) !== s) continue;
        this.holders.delete(k);
        this.presentAt.delete(k);
        this.onPeerGone(Uint8Array.from(Buffer.from(k, 'hex')), k);
      }
      s.keys.clear();
      this.deps.log.info({ peer: s.peer.url }, 'relay mesh: link lost');
      this.retry(s);
    });
    link.write(encodeWatchConns());
  }

  private retry(s: PeerState): void {
    if (!this.running) return;
    const delay = s.backoffMs;
    s.backoffMs = Math.min(s.backoffMs * 2, this.config.backoffMaxMs ?? 5_000);
    s.cancelRetry = this.deps.clock.setTimer(delay, () => {
      s.cancelRetry = undefined;
      void this.connect(s);
    });
  }

  private onMessage(s: PeerState, m: RelayMessage): void {
    if (m.kind === 'peer-present') {
      const hex = Buffer.from(m.key).toString('hex');
      s.keys.add(hex);
      this.holders.set(hex, s);
      this.presentAt.set(hex, this.deps.clock.nowMs());
    } else if (m.kind === 'peer-gone') {
      const hex = Buffer.from(m.key).toString('hex');
      s.keys.delete(hex);
      if (this.holders.get(hex) === s) {
        this.holders.delete(hex);
        this.presentAt.delete(hex);
        this.onPeerGone(m.key, hex);
      }
    }
  }
}
