/**
 * The Device API: what the UAPI, `conegate wg up` and the mesh use. Keys are raw 32-byte Uint8Arrays
 * (keys.ts converts to and from base64 / hex). Allowed IPs are CIDR text ("10.0.0.0/24", "fd00::1/128").
 */
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { Bind, Endpoint, TunDevice } from './ports.ts';

export interface PeerConfig {
  publicKey: Uint8Array;
  /** 32 bytes; absent or all-zero means none. */
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  /** CIDR text; host bits are cleared (wg accepts 10.0.0.1/24 and stores 10.0.0.0/24). */
  allowedIps?: string[];
  /** 0 or absent: off. */
  persistentKeepaliveSec?: number;
}

/** A change to one peer (the UAPI `set` vocabulary). Fields left out are unchanged. */
export interface PeerUpdate extends PeerConfig {
  /** Drop the peer's allowed IPs before adding `allowedIps` (UAPI replace_allowed_ips). */
  replaceAllowedIps?: boolean;
  /** Only update an existing peer; never create one (UAPI update_only). */
  updateOnly?: boolean;
}

export interface DeviceConfig {
  /** 32 bytes; may be set later with setPrivateKey (a device without one drops everything). */
  privateKey?: Uint8Array;
  peers?: PeerConfig[];
  /**
   * Handshake messages per second above which the device is "under load" and answers initiations and
   * responses lacking a valid mac2 with a cookie reply instead (whitepaper 5.3). Default 128.
   */
  handshakeLoadThreshold?: number;
}

export interface DeviceDeps {
  clock: Clock;
  bind: Bind;
  tun: TunDevice;
  /** Cryptographic randomness (indices, ephemeral keys, cookie secrets, nonces). Default node:crypto. */
  randomBytes?: (n: number) => Uint8Array;
  /** Wall clock in ms since the Unix epoch, for TAI64N timestamps and last-handshake times. Default Date.now. */
  wallClockMs?: () => number;
  /** Jitter added to REKEY_TIMEOUT, in ms (wireguard-go: 0..333). Default random in that range. */
  jitterMs?: () => number;
  log?: Logger;
}

/** Why a datagram or packet was dropped; each has a counter in DeviceStats.drops. */
export type DropReason =
  | 'decode' // not a well-formed WireGuard message (wrong size / type / reserved bytes)
  | 'badMac' // mac1 (or a required mac2) did not verify
  | 'handshakeFailed' // MACs fine but the Noise message did not decrypt / unknown static key
  | 'replayedHandshake' // initiation timestamp not newer than the last one, or too frequent
  | 'unknownReceiver' // receiver index names no live session or pending handshake
  | 'badAuth' // transport ciphertext failed authentication
  | 'replay' // transport counter already seen or too old for the window
  | 'keyExpired' // session past REJECT_AFTER_TIME / REJECT_AFTER_MESSAGES
  | 'badAllowedIp' // inner source address not in the sending peer's allowed IPs
  | 'badIpPacket' // decrypted payload is not an IPv4/IPv6 packet of a sane length
  | 'noRoute' // outbound packet whose destination matches no peer's allowed IPs
  | 'noEndpoint' // peer has no known endpoint yet
  | 'queueFull' // staged packets waiting for a handshake overflowed
  | 'noPrivateKey'
  | 'cookieRejected' // cookie reply that did not decrypt or answered nothing we sent
  | 'rateLimited'; // under load, a source sent handshakes faster than 20 per second (burst 5)

export type DropCounters = Record<DropReason, number>;

export interface DeviceStats {
  drops: DropCounters;
  /** Handshake messages sent / received by kind, and cookie replies. */
  initiationsSent: number;
  initiationsReceived: number;
  responsesSent: number;
  responsesReceived: number;
  cookieRepliesSent: number;
  cookieRepliesReceived: number;
  /** Transport messages (keepalives included). */
  transportSent: number;
  transportReceived: number;
  /** Exceptions caught while handling a packet or timer: always a bug in the device, never in the input. */
  internalErrors: number;
}

export interface PeerStatus {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | undefined;
  endpoint: Endpoint | undefined;
  allowedIps: string[];
  persistentKeepaliveSec: number;
  /** Bytes of WireGuard datagrams received from / sent to this peer (as wg show counts them). */
  rxBytes: number;
  txBytes: number;
  /** Wall-clock ms of the last completed handshake; 0 if none. */
  lastHandshakeWallMs: number;
  /** True while a current session key exists. */
  hasSession: boolean;
}

export interface Device {
  /** Wires the bind's and TUN's handlers. Idempotent. */
  start(): void;
  /** Cancels every timer and drops all sessions; leaves bind and TUN to their owners. Idempotent. */
  stop(): void;
  setPrivateKey(key: Uint8Array): void;
  readonly publicKey: Uint8Array | undefined;
  /** Adds or changes a peer; returns false if updateOnly and the peer does not exist. */
  upsertPeer(update: PeerUpdate): boolean;
  removePeer(publicKey: Uint8Array): boolean;
  removeAllPeers(): void;
  peers(): PeerStatus[];
  stats(): DeviceStats;
  /** A datagram from the UDP socket: the bind's handler, or the mesh demultiplexer, call this. Never throws. */
  receiveUdp(packet: Uint8Array, from: Endpoint): void;
  /**
   * Several datagrams at once (a recvmmsg batch), from one endpoint or one endpoint each: decrypted
   * packets go to the TUN in one `write(array)`. Never throws.
   */
  receiveUdpBatch(packets: Uint8Array[], from: Endpoint | Endpoint[]): void;
  /** An IP packet for the tunnel (the TUN's handler calls this). Never throws. */
  sendIp(ipPacket: Uint8Array): void;
  /** Several IP packets at once (a TUN read batch): sealed messages go out as one `send(array)` per peer. */
  sendIpBatch(ipPackets: Uint8Array[]): void;
  /** Starts a handshake with a peer now (otherwise the first outbound packet does). */
  initiateHandshake(publicKey: Uint8Array): void;
}
