/**
 * The relay server's logic over transports: login (server key, sealed client info, admission, sealed
 * server info), forwarding by destination key with the payload opaque, peer-gone notices, health,
 * relay-to-relay watching and forwarding inside a region. `(config, deps) -> component`; the HTTPS
 * edge (https.ts) hands it each upgraded connection with accept().
 *
 * Rules and why (see docs/mesh-protocol.md "Relay"):
 * - Admission fails closed: no positive answer, no login. Connected keys are re-checked every
 *   recheckMs, so a revoked node is cut within that time; a coordinator outage refuses new logins but
 *   keeps existing ones (cutting every node at once for a coordinator restart would be worse).
 * - Duplicate connections for one key: the one that read last receives (a roaming client's new
 *   connection takes over as soon as it speaks; the old one may linger until its TCP times out).
 * - A packet for a key another relay of the region holds is forwarded once; a packet that arrived as a
 *   forward is delivered locally or dropped, never forwarded again (no loops, no storms).
 * - "Not here" is answered for discovery packets only, at most 1/s per client (burst 3): a node then
 *   stops punching towards a peer that left, and a flood of sends to nowhere costs us little.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import { DecodeError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { isDisco } from '../../mesh/demux.ts';
import { TokenBucket, type BucketSpec } from '../../net/ratelimit.ts';
import * as f from '../frames.ts';
import { decodeMessage, type RelayMessage } from '../frames-message.ts';
import { RELAY_PROTOCOL_VERSION, sealJson, type RandomBytes } from '../frames-seal.ts';
import type { Admission } from './admission.ts';
import { RelayConn, type ConnHost, type ConnOptions } from './conn.ts';
import { checkLogin, presentFrameFor } from './login.ts';
import type { RelayTransport } from './transport.ts';
import { x25519Public } from '../../wg/x25519.ts';

export interface RelayServerConfig {
  /** The server's X25519 private key (its public half is sent in the server-key frame). */
  serverSecret: Uint8Array;
  /** 64 hex chars shared by the relays of one region; absent = no relay-to-relay links. */
  meshKey?: string;
  loginTimeoutMs?: number;
  queueDepth?: number;
  writeTimeoutMs?: number;
  /** Relay-to-relay links carry everyone's traffic; they get longer before they are cut. */
  meshWriteTimeoutMs?: number;
  keepaliveMs?: number;
  keepaliveJitterMs?: number;
  /** Per-client read rate (bytes/s and burst); undefined = unlimited. Mesh links are exempt. */
  clientReadLimit?: BucketSpec;
  recheckMs?: number;
  maxPendingFrames?: number;
}

/** Where packets for keys held by other relays of the region go (mesh/mesh.ts implements it). */
export interface MeshForwarder {
  /** Sends one forward frame towards the relay holding dstHex; false if no relay of the region holds it. */
  forward(src: Uint8Array, dst: Uint8Array, dstHex: string, data: Uint8Array): boolean;
  /** When (clock ms) another relay of the region announced it holds dstHex; undefined if none does. */
  heldSinceMs?(dstHex: string): number | undefined;
}

export interface RelayServerDeps {
  clock: Clock;
  log: Logger;
  random: () => number;
  randomBytes: RandomBytes;
  admission: Admission;
  mesh?: MeshForwarder;
}

export interface RelayStats {
  clients: number;
  meshPeers: number;
  packetsRelayed: number;
  packetsForwarded: number;
  packetsDropped: number;
  bytesRelayed: number;
  loginsRefused: number;
}

const NOT_HERE_LIMIT: BucketSpec = { perSec: 1, burst: 3 };

interface LoginState {
  pending: f.Frame[];
  cancelTimer: CancelTimer;
  admitting: boolean;
}

export class RelayServer implements ConnHost {
  readonly serverKey: Uint8Array;
  private readonly clients = new Map<string, RelayConn[]>();
  private readonly logins = new Map<RelayConn, LoginState>();
  private readonly meshConns = new Set<RelayConn>();
  /** dst key -> src keys that sent to it, for peer-gone "disconnected" when dst leaves. */
  private readonly senders = new Map<string, Set<string>>();
  private readonly notHere = new Map<RelayConn, TokenBucket>();
  private readonly conns = new Set<RelayConn>();
  private health = '';
  private cancelRecheck: CancelTimer | undefined;
  private started = false;
  private mesh: MeshForwarder | undefined;
  readonly counters = { packetsRelayed: 0, packetsForwarded: 0, packetsDropped: 0, bytesRelayed: 0, loginsRefused: 0 };

  constructor(private readonly config: RelayServerConfig, private readonly deps: RelayServerDeps) {
    this.serverKey = x25519Public(config.serverSecret);
    this.mesh = deps.mesh;
  }

  /** The region's other relays (mesh/mesh.ts), known once every relay listens. */
  attachMesh(mesh: MeshForwarder): void {
    this.mesh = mesh;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.armRecheck();
  }

  stop(): void {
    if (!this.started && this.conns.size === 0) return;
    this.started = false;
    this.cancelRecheck?.();
    this.cancelRecheck = undefined;
    // Clients are told to come back (here after a restart, or to another relay of the region) rather
    // than find out from a dead socket.
    const goodbye = { frame: f.encodeRestarting({ reconnectInMs: 500, tryForMs: 30_000 }), waitMs: 1_000 };
    for (const c of [...this.conns]) c.close('server stopping', c.key && !c.isMesh ? goodbye : undefined);
  }

  stats(): RelayStats {
    return { clients: this.clients.size - new Set([...this.meshConns].map((c) => c.keyHex)).size, meshPeers: this.meshConns.size, ...this.counters };
  }

  /** Keys of the clients connected here (what a watching relay learns as peer-present). */
  localKeys(): string[] {
    return [...this.clients.keys()];
  }

  hasClient(keyHex: string): boolean {
    return this.clients.has(keyHex);
  }

  /** Sets the health problem ('' = healthy) and tells every client when it changes. */
  setHealth(problem: string): void {
    if (problem === this.health) return;
    this.health = problem;
    const frame = f.encodeHealth(problem.slice(0, 1000));
    for (const conns of this.clients.values()) for (const c of conns) c.sendControl(frame);
  }

  /** A new upgraded connection: server key now, client info within the login deadline. */
  accept(transport: RelayTransport): RelayConn {
    // Whether this is a relay of the region is known only at login (promoteToMesh then).
    const opts = this.connOptions(false);
    const conn = new RelayConn(transport, opts, this, { clock: this.deps.clock, random: this.deps.random });
    this.conns.add(conn);
    const cancelTimer = this.deps.clock.setTimer(this.config.loginTimeoutMs ?? 10_000, () => conn.close('login timeout'));
    this.logins.set(conn, { pending: [], cancelTimer, admitting: false });
    conn.sendControl(f.encodeServerKey(this.serverKey));
    return conn;
  }

  private connOptions(mesh: boolean): ConnOptions {
    return {
      queueDepth: this.config.queueDepth ?? 32,
      writeTimeoutMs: mesh ? (this.config.meshWriteTimeoutMs ?? 30_000) : (this.config.writeTimeoutMs ?? 2_000),
      keepaliveMs: this.config.keepaliveMs ?? 60_000,
      keepaliveJitterMs: this.config.keepaliveJitterMs ?? 5_000,
      ...(this.config.clientReadLimit ? { readLimit: this.config.clientReadLimit } : {}),
      maxBufferedBytes: 4 * 1024 * 1024,
      writeBatchBytes: 32 * 1024,
      // What a receiving client may have in flight beyond its two queues. 256 KiB dropped 75% of a
      // 40k packet/s burst on loopback (bursts outrun the TLS write); 1 MiB keeps it to a few percent
      // and bounds a slow reader's memory (bench/relay.ts).
      socketBufferBytes: 1024 * 1024,
    };
  }

  onFrame(conn: RelayConn, frame: f.Frame): void {
    const login = this.logins.get(conn);
    if (login) return this.onLoginFrame(conn, login, frame);
    let msg: RelayMessage | undefined;
    try {
      msg = decodeMessage(frame);
    } catch (err) {
      if (err instanceof DecodeError) return conn.close(`bad ${frame.type} frame: ${err.reason}`);
      throw err;
    }
    if (msg) this.onMessage(conn, msg);
  }

  onClose(conn: RelayConn, reason: string): void {
    this.conns.delete(conn);
    const login = this.logins.get(conn);
    if (login) {
      login.cancelTimer();
      this.logins.delete(conn);
      return;
    }
    this.notHere.delete(conn);
    this.meshConns.delete(conn);
    if (!conn.key) return;
    this.deps.log.debug({ key: conn.keyHex.slice(0, 16), reason }, 'relay: client left');
    const list = (this.clients.get(conn.keyHex) ?? []).filter((c) => c !== conn);
    if (list.length > 0) return void this.clients.set(conn.keyHex, list);
    if (!this.clients.delete(conn.keyHex)) return;
    if (conn.isMesh) return;
    this.peerGone(conn.key, conn.keyHex);
    const gone = f.encodePeerGone(conn.key, 'disconnected');
    for (const m of this.meshConns) if (m.watching) m.sendControl(gone);
  }

  /** A key left this relay or another of the region: tell whoever sent to it here. */
  peerGone(key: Uint8Array, keyHex: string): void {
    const senders = this.senders.get(keyHex);
    this.senders.delete(keyHex);
    if (!senders) return;
    const frame = f.encodePeerGone(key, 'disconnected');
    for (const s of senders) this.pick(s)?.sendControl(frame);
  }

  // ---- login ----

  private onLoginFrame(conn: RelayConn, login: LoginState, frame: f.Frame): void {
    if (login.admitting) {
      // Clients may send right after client-info; keep a little until admission answers.
      if (login.pending.length >= (this.config.maxPendingFrames ?? 64)) return conn.close('too much before login');
      login.pending.push({ type: frame.type, body: f.copyOf(frame.body) });
      return;
    }
    const v = checkLogin(frame, this.config.serverSecret, this.config.meshKey);
    if (!v.ok) {
      this.counters.loginsRefused++;
      return conn.close(v.reason);
    }
    const { key: clientKey, keyHex } = v;
    if (v.mesh) return this.finishLogin(conn, login, clientKey, keyHex, true, v.prober);
    login.admitting = true;
    this.deps.admission.admitted([keyHex]).then(
      (yes) => {
        if (conn.isClosed) return;
        if (!yes.has(keyHex)) {
          this.counters.loginsRefused++;
          conn.sendControl(f.encodeHealth('this node key is not admitted to this relay'));
          return conn.close('not admitted');
        }
        this.finishLogin(conn, login, clientKey, keyHex, false, v.prober);
      },
      (err: unknown) => {
        this.counters.loginsRefused++;
        this.deps.log.warn({ err }, 'relay: admission check failed; login refused (fail closed)');
        this.setHealth('cannot check admission with the coordinator');
        conn.sendControl(f.encodeHealth('admission cannot be checked right now; retry later'));
        conn.close('admission unavailable');
      },
    );
  }

  private finishLogin(conn: RelayConn, login: LoginState, key: Uint8Array, keyHex: string, mesh: boolean, prober: boolean): void {
    login.cancelTimer();
    this.logins.delete(conn);
    conn.key = key;
    conn.keyHex = keyHex;
    if (mesh) conn.promoteToMesh(this.config.meshWriteTimeoutMs ?? 30_000);
    conn.prober = prober;
    conn.lastReadMs = this.deps.clock.nowMs();
    const info = { version: RELAY_PROTOCOL_VERSION, ...(this.config.clientReadLimit && !mesh ? { tokenBucketBytesPerSec: this.config.clientReadLimit.perSec, tokenBucketBytesBurst: this.config.clientReadLimit.burst } : {}) };
    conn.sendControl(f.encodeServerInfo(sealJson(info, this.config.serverSecret, key, this.deps.randomBytes)));
    if (mesh) this.meshConns.add(conn);
    const first = !this.clients.has(keyHex);
    this.clients.set(keyHex, [...(this.clients.get(keyHex) ?? []), conn]);
    conn.startKeepalive();
    if (this.health) conn.sendControl(f.encodeHealth(this.health));
    if (first && !mesh && !prober) {
      const present = this.presentFrame(conn);
      for (const m of this.meshConns) if (m.watching) m.sendControl(present);
    }
    for (const p of login.pending) this.onFrame(conn, p);
  }

  private presentFrame(conn: RelayConn): Uint8Array {
    return presentFrameFor(conn.key!, conn.transport.remoteAddress, conn.transport.remotePort);
  }

  // ---- after login ----

  private onMessage(conn: RelayConn, msg: RelayMessage): void {
    switch (msg.kind) {
      case 'send':
        return this.route(conn, conn.key!, msg.dstKey, msg.data, false);
      case 'forward':
        if (!conn.isMesh) return conn.close('forward from a client');
        return this.route(conn, msg.srcKey, msg.dstKey, msg.data, true);
      case 'ping':
        return conn.sendControl(f.encodePong(msg.data));
      case 'note-preferred':
        conn.preferred = msg.preferred;
        return;
      case 'keepalive':
      case 'pong':
        return;
      case 'watch-conns':
        if (!conn.isMesh) return conn.close('watch-conns without the mesh key');
        conn.watching = true;
        for (const conns of this.clients.values()) {
          const c = conns[0]!;
          if (!c.isMesh && !c.prober) conn.sendControl(this.presentFrame(c));
        }
        return;
      case 'close-peer':
        if (!conn.isMesh) return conn.close('close-peer without the mesh key');
        for (const c of this.clients.get(Buffer.from(msg.key).toString('hex')) ?? []) c.close('closed by a relay of the region');
        return;
      default:
        // server-to-client frames (recv, server-key, peer-present, ...) from a client: a broken or forged peer.
        return conn.close(`unexpected ${msg.kind} from a client`);
    }
  }

  /** The connection that read last among those holding keyHex. */
  private pick(keyHex: string): RelayConn | undefined {
    const list = this.clients.get(keyHex);
    if (!list) return undefined;
    let best = list[0];
    for (const c of list) if (c.lastReadMs > best!.lastReadMs) best = c;
    return best;
  }

  private route(from: RelayConn, src: Uint8Array, dst: Uint8Array, data: Uint8Array, wasForwarded: boolean): void {
    const dstHex = Buffer.from(dst.buffer, dst.byteOffset, dst.length).toString('hex');
    const disco = isDisco(data);
    const local = this.pick(dstHex);
    if (local && !local.isMesh && (wasForwarded || !this.movedAway(local, dstHex))) {
      local.sendPacket(f.encodeRecv(src, data), disco);
      this.counters.packetsRelayed++;
      this.counters.bytesRelayed += data.length;
      if (!wasForwarded) this.noteSender(dstHex, from.keyHex);
      return;
    }
    if (!wasForwarded && this.mesh?.forward(src, dst, dstHex, data)) {
      this.counters.packetsForwarded++;
      this.noteSender(dstHex, from.keyHex);
      return;
    }
    this.counters.packetsDropped++;
    if (disco && !wasForwarded) {
      let b = this.notHere.get(from);
      if (!b) this.notHere.set(from, (b = new TokenBucket(NOT_HERE_LIMIT, this.deps.clock.nowMs())));
      if (b.take(this.deps.clock.nowMs())) from.sendControl(f.encodePeerGone(dst, 'not-here'));
    }
  }

  /**
   * The client logged in to another relay of the region after the last byte its connection here read:
   * it moved (a node keeps one connection per region), and this one is dead or about to be closed by
   * it, which can take up to the 120 s read deadline when the old path went silent. Packets go to the
   * new holder rather than into the old connection.
   */
  private movedAway(local: RelayConn, dstHex: string): boolean {
    const since = this.mesh?.heldSinceMs?.(dstHex);
    return since !== undefined && since > local.lastReadMs;
  }

  private noteSender(dstHex: string, srcHex: string): void {
    let s = this.senders.get(dstHex);
    if (!s) this.senders.set(dstHex, (s = new Set()));
    s.add(srcHex);
  }

  // ---- revocation ----

  private armRecheck(): void {
    this.cancelRecheck = this.deps.clock.setTimer(this.config.recheckMs ?? 10_000, () => {
      void this.recheck().finally(() => {
        if (this.started) this.armRecheck();
      });
    });
  }

  /** Asks admission about every connected node key and cuts the ones no longer admitted. */
  async recheck(): Promise<void> {
    const keys = [...this.clients.entries()].filter(([, cs]) => !cs[0]!.isMesh).map(([k]) => k);
    if (keys.length === 0) return;
    let yes: Set<string>;
    try {
      yes = await this.deps.admission.admitted(keys, { fresh: true });
    } catch (err) {
      this.deps.log.warn({ err }, 'relay: admission re-check failed; keeping connected clients');
      this.setHealth('cannot check admission with the coordinator');
      return;
    }
    if (this.health === 'cannot check admission with the coordinator') this.setHealth('');
    for (const k of keys) {
      if (yes.has(k)) continue;
      for (const c of this.clients.get(k) ?? []) c.close('no longer admitted');
    }
  }
}
