/**
 * The contract between the mesh node's packet paths (mesh parts 2 and 3): how a WireGuard packet for a
 * peer leaves the node (direct UDP from one of our sockets, a UDP relay, or a TCP relay region), how
 * packets come back, and what the discovery engine decides. Types only; docs/mesh-paths.md explains the
 * design. Owners: relay links in agent/src/relay/client, the discovery engine in agent/src/disco, the
 * path router (the WireGuard device's Bind) and the socket set in agent/src/paths.
 *
 * Keys are 64 lowercase hex chars: `NodeKeyHex` is a node's WireGuard public key (what relays route
 * by), `DiscoKeyHex` its discovery key (what seals discovery messages); both come from the map.
 */
import type { Endpoint } from '../wg/ports.ts';

export type NodeKeyHex = string;
export type DiscoKeyHex = string;

/** One of the node's UDP sockets: 0 is the mesh socket (wg.listenPort); others are extra sockets opened
 * for a birthday attempt, kept only while a path uses them. */
export type SocketId = number;
export const MESH_SOCKET: SocketId = 0;

/** Where a packet goes or came from. */
export type Via =
  | { kind: 'direct'; endpoint: Endpoint; socket: SocketId }
  | { kind: 'tcp-relay'; region: string }
  | { kind: 'udp-relay'; relay: Endpoint; vni: number; socket: SocketId };

export type PathKind = Via['kind'];

/** Why a peer is not (yet) direct; `status` shows the code and the text. */
export type RelayReason =
  | 'starting' // no pong yet; discovery running
  | 'no-candidates' // the peer advertised no endpoint we can send to
  | 'both-hard' // both NATs map per destination: birthday not attempted (would need ~170k probes each)
  | 'birthday-failed' // one side hard: the birthday attempt ran and no probe got through
  | 'birthday-backoff' // one side hard: waiting out the 5 min between attempts
  | 'udp-blocked' // no STUN answer and no pong on any candidate: UDP does not pass here
  | 'no-answer' // candidates pinged, nothing came back (firewall, IPS, or the peer is offline)
  | 'wireguard-blocked' // discovery passes on the direct path but WireGuard does not: something drops WireGuard-shaped UDP
  | 'peer-offline'; // the relay says the peer is not connected, or the coordinator says it is offline

/** Why a relayed peer is on the UDP relay or the TCP relay (`status` shows the code and the text). */
export type RelayChoiceCode =
  | 'udp-relay' // a node in the map relays UDP for the pair and pongs come back through it
  | 'udp-relay-starting' // allocating / binding / waiting for the first pong through the UDP relay
  | 'udp-relay-suspect' // pings through the UDP relay went unanswered: the TCP relay carries a copy
  | 'udp-relay-failed' // the UDP relay refused or did not answer; retried later
  | 'no-udp-relay' // no node in the map offers a UDP relay (other than the two peers)
  | 'udp-blocked' // UDP does not leave this network: no UDP relay can help
  | 'waiting-for-direct'; // discovery has not given up on a direct path yet

/**
 * The node's connections to relay servers (TCP/443 and WebSocket, through an HTTP proxy when set).
 * Implemented by the relay client (agent/src/relay/client) and by an in-memory twin for unit tests.
 * Connects to a region on demand on the first send to it; closes non-home regions after 60 s idle.
 */
export interface RelayLink {
  /** Sends an opaque packet (WireGuard or sealed discovery) to `dst` through `region`. Never throws;
   * a packet that cannot be sent now is dropped and counted (the tunnel retransmits). */
  send(region: string, dst: NodeKeyHex, packet: Uint8Array): void;
  /** One handler; packets from any region. */
  onReceive(handler: (src: NodeKeyHex, packet: Uint8Array, region: string) => void): void;
  /** The relay said `key` is gone from `region` (disconnected, or not here). */
  onPeerGone(handler: (key: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here') => void): void;
  /** The relay map from the coordinator; measuring and choosing the home region starts with the first map. */
  setRelayMap(map: import('../coord/protocol.ts').RelayMap): void;
  /** The current home region (undefined until chosen). The node publishes it through the coordinator. */
  home(): string | undefined;
  onHomeChange(handler: (region: string) => void): void;
  /** For `status`: per region, connected or not, server URL in use, latency, through a proxy or not. */
  status(): RelayLinkStatus;
  close(): Promise<void>;
}

export interface RelayLinkStatus {
  home: string | undefined;
  regions: { id: string; connected: boolean; server?: string; latencyMs?: number; viaProxy?: boolean; transport?: 'upgrade' | 'websocket' }[];
}

/** The node's UDP sockets (the mesh socket and extra ones). Edge: node:dgram; twin: memory. */
export interface SocketSet {
  send(socket: SocketId, packet: Uint8Array, to: Endpoint): void;
  /** Every socket's datagrams, tagged with the socket they arrived on (the demux runs on each). */
  onReceive(handler: (packet: Uint8Array, from: Endpoint, socket: SocketId) => void): void;
  /** Opens up to `count` extra sockets on random ports; resolves with their ids (fewer when the OS refuses). */
  openExtra(count: number): Promise<SocketId[]>;
  closeExtra(ids: SocketId[]): void;
  localPort(socket: SocketId): number | undefined;
}

/** A peer as the discovery engine needs it (from the network map). */
export interface PathPeer {
  nodeKey: NodeKeyHex;
  discoKey: DiscoKeyHex;
  /** ip:port candidates the peer reported through the coordinator. */
  endpoints: Endpoint[];
  homeRelay: string | null;
  /** "ip:port" of the UDP relay this peer offers to others (Peer.udpRelay; absent: none). */
  udpRelay?: string;
  /** The coordinator's word (absent: not known). */
  online?: boolean;
}

/** A mesh node offering a UDP relay, as the engine asks the UDP relay client to use it. */
export interface UdpRelayTarget {
  endpoint: Endpoint;
  nodeKey: NodeKeyHex;
  discoKey: DiscoKeyHex;
}

/** What the engine asks the loop to do (plain data; the loop seals and sends). */
export type PathAction =
  | { t: 'disco'; peer: NodeKeyHex; via: Via; message: import('../disco/types.ts').DiscoMessage }
  | { t: 're-stun' }
  | { t: 'open-sockets'; peer: NodeKeyHex; count: number }
  | { t: 'close-sockets'; ids: SocketId[] }
  /** Keep a UDP relay path to `peer` through `relay` (allocate and bind), or stop using one (undefined). */
  | { t: 'udp-relay'; peer: NodeKeyHex; relay: UdpRelayTarget | undefined };

/**
 * The discovery engine (pure, injected clock): candidates, pings/pongs, call-me-maybe, the birthday
 * attempt, and path choice. The loop feeds it events and performs its actions; the path router asks it
 * where each packet goes.
 */
export interface PathEngine {
  setPeers(peers: PathPeer[], nowMs: number): PathAction[];
  /** Our own candidates (STUN, port mapping, interfaces) and what our NAT does. */
  setSelf(self: { endpoints: Endpoint[]; mappingVariesByDest: boolean | undefined; udp: boolean | undefined }, nowMs: number): PathAction[];
  /** The data plane wants to send to `peer` (first packet starts discovery; later ones keep it warm). */
  onTraffic(peer: NodeKeyHex, nowMs: number): PathAction[];
  /** WireGuard data from a peer arrived on a direct path (at most a few times a second per peer): proof the
   * path works, so the engine can tell "sent but nothing received" (a dead path) from a quiet peer. */
  onReceive(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[];
  /** A discovery message opened and verified by the loop, and where it came from. */
  onDisco(from: DiscoKeyHex, message: import('../disco/types.ts').DiscoMessage, via: Via, nowMs: number): PathAction[];
  /** The loop opened the extra sockets an `open-sockets` action asked for (fewer when the OS refused; an
   * empty list when it could open none): the engine pings the easy side from each, or closes them when
   * the attempt is already over. */
  onSocketsOpened(peer: NodeKeyHex, ids: SocketId[], nowMs: number): PathAction[];
  /** A send failed (e.g. EHOSTUNREACH, ENETUNREACH on IPv6): drop that path now, fall through. */
  onSendError(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[];
  /** The relay said the peer is not connected to `region` (peer-gone: disconnected, or not here). */
  onPeerGone?(peer: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here', nowMs: number): PathAction[];
  /** The router sent WireGuard to the peer on the direct path `via` and got no WireGuard back on any
   * direct path for longer than WireGuard allows (paths/wg-watch.ts). */
  onWireGuardSilent?(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[];
  /** WireGuard from the peer arrived on a direct path after a silence was reported. */
  onWireGuardDirect?(peer: NodeKeyHex, nowMs: number): PathAction[];
  /** What an IPS check of this router found against our WireGuard traffic (one line), for `status`. */
  setIpsFinding?(text: string | undefined): void;
  /** Link or WAN change: forget best paths, re-STUN, re-probe. */
  onLinkChange(nowMs: number): PathAction[];
  /** The UDP relay client bound a path to `peer` (via) or lost it (undefined). Optional: engines
   * without UDP relay support ignore it. */
  onUdpRelay?(peer: NodeKeyHex, via: Extract<Via, { kind: 'udp-relay' }> | undefined, nowMs: number): PathAction[];
  /** Timers: heartbeats, re-probes, trust expiry, birthday pacing. Call at `nextWakeMs()`. */
  tick(nowMs: number): PathAction[];
  nextWakeMs(): number | undefined;
  /** Where the next packet for `peer` goes: one Via, or two (direct + relay) while the direct path is
   * untrusted. Empty when nothing is known yet (no relay, no candidate): the packet is dropped. */
  route(peer: NodeKeyHex, nowMs: number): Via[];
  /** The peer a direct source address belongs to (a confirmed path or a known candidate), if any. */
  peerForSource(from: Endpoint, socket: SocketId): NodeKeyHex | undefined;
  status(peer: NodeKeyHex, nowMs: number): PeerPathStatus | undefined;
}

export interface PeerPathStatus {
  path: Via | undefined;
  /** Round-trip time of the path in use, from the last pong. */
  rttMs: number | undefined;
  /** Since when the current path is used (ms, same clock as nowMs). */
  sinceMs: number | undefined;
  candidates: { endpoint: string; source: 'map' | 'call-me-maybe' | 'peer-reflexive'; lastPongRttMs?: number; lastPingAgoMs?: number }[];
  reason?: { code: RelayReason; text: string };
  birthday?: {
    attempts: number;
    /** `concurrent` (hard side): the most attempts that shared the node's extra sockets during this one. */
    last?: { sockets: number; probes: number; winner?: string; ms: number; ok: boolean; atMs: number; concurrent?: number };
    /** The attempt running now: extra sockets it pings from (hard) and probes/pings sent so far. */
    running?: { id: number; role: 'easy' | 'hard'; sockets: number; probes: number; concurrent: number };
    /** The node's extra sockets (all peers): open now (shared pool + winners held by tunnels), attempts
     * sharing the pool now, and the highest counts seen. Never more than 256 open. */
    node?: { open: number; pool: number; held: number; running: number; peakOpen: number; peakShared: number };
  };
  /** The relay side of the choice, when not direct: why a UDP relay or the TCP relay carries the peer. */
  relayChoice?: { code: RelayChoiceCode; text: string };
  /** The UDP relay path to this peer, while one is wanted. */
  udpRelay?: { node: NodeKeyHex; address: string; state: 'binding' | 'bound' | 'confirmed' | 'suspect' | 'failed'; rttMs?: number };
  /** Recent path changes, newest last (bounded). */
  events: { atMs: number; text: string }[];
}
