/**
 * Noise_IKpsk2 as WireGuard uses it (whitepaper 5.4.2 - 5.4.5). Pure: ephemeral keys, indices and the
 * timestamp come in as arguments, so a handshake with fixed inputs produces fixed bytes (noise.test.ts
 * holds the golden vector). MACs are added and checked by cookie.ts; codecs live in messages.ts.
 *
 * Handshake state per peer follows the message flow:
 *   initiator: zeroed -> initiationCreated -> (consume response) -> keys derived, zeroed
 *   responder: zeroed -> initiationConsumed -> responseCreated -> keys derived, zeroed
 */
import { aeadOpen, aeadSeal, dh, dhPublic, equalConstantTime, hash, isZero, kdf1, kdf2, kdf3 } from './crypto.ts';
import type { Initiation, Response } from './messages.ts';
import { HANDSHAKE_INITIATION_RATE_MS } from './constants.ts';
import { tai64nAfter } from './tai64n.ts';

const enc = new TextEncoder();
export const CONSTRUCTION = enc.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
export const IDENTIFIER = enc.encode('WireGuard v1 zx2c4 Jason@zx2c4.com');
/** C0 = HASH(CONSTRUCTION); H0 = HASH(C0 || IDENTIFIER). */
export const INITIAL_CHAIN_KEY = hash(CONSTRUCTION);
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, IDENTIFIER);
const ZERO_KEY = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

export interface Identity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export type HandshakeStage = 'zeroed' | 'initiationCreated' | 'initiationConsumed' | 'responseCreated';

/** What one side knows about one peer for handshaking. */
export interface PeerHandshake {
  remoteStatic: Uint8Array;
  /** All zero when the peer has no preshared key (Q = 0^32 in the whitepaper). */
  presharedKey: Uint8Array;
  /** DH(our static, their static); undefined when their key is a low-order point (handshakes then fail). */
  staticStatic: Uint8Array | undefined;
  stage: HandshakeStage;
  hash: Uint8Array;
  chainKey: Uint8Array;
  localEphemeral: Uint8Array;
  remoteEphemeral: Uint8Array;
  localIndex: number;
  remoteIndex: number;
  /** Newest initiation timestamp accepted from this peer (replay protection). */
  lastTimestamp: Uint8Array;
  lastInitiationConsumedMs: number;
}

export function newPeerHandshake(identity: Identity | undefined, remoteStatic: Uint8Array, presharedKey?: Uint8Array): PeerHandshake {
  return {
    remoteStatic: Uint8Array.from(remoteStatic),
    presharedKey: presharedKey ? Uint8Array.from(presharedKey) : new Uint8Array(32),
    staticStatic: identity ? staticStatic(identity, remoteStatic) : undefined,
    stage: 'zeroed',
    hash: EMPTY,
    chainKey: EMPTY,
    localEphemeral: EMPTY,
    remoteEphemeral: EMPTY,
    localIndex: 0,
    remoteIndex: 0,
    lastTimestamp: new Uint8Array(12),
    lastInitiationConsumedMs: -Infinity,
  };
}

/** DH(s, S) or undefined for a low-order public key (the all-zero shared secret is refused). */
export function staticStatic(identity: Identity, remoteStatic: Uint8Array): Uint8Array | undefined {
  try {
    const ss = dh(identity.privateKey, remoteStatic);
    return isZero(ss) ? undefined : ss;
  } catch {
    return undefined;
  }
}

function tryDh(priv: Uint8Array, pub: Uint8Array): Uint8Array | undefined {
  try {
    const s = dh(priv, pub);
    return isZero(s) ? undefined : s;
  } catch {
    return undefined;
  }
}

/** The fields of an initiation before MACs. */
export type InitiationBody = Omit<Initiation, 'type' | 'mac1' | 'mac2'>;
export type ResponseBody = Omit<Response, 'type' | 'mac1' | 'mac2'>;

/**
 * Initiator, message 1. `ephemeralPrivate` is a fresh clamped X25519 key; `timestamp` is TAI64N.
 * Returns undefined if the peer's static key is unusable.
 */
export function createInitiation(
  identity: Identity,
  hs: PeerHandshake,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
  timestamp: Uint8Array,
): InitiationBody | undefined {
  if (!hs.staticStatic) return undefined;
  let c = INITIAL_CHAIN_KEY;
  let h = hash(INITIAL_HASH, hs.remoteStatic);
  const ephemeral = dhPublic(ephemeralPrivate);
  c = kdf1(c, ephemeral);
  h = hash(h, ephemeral);
  const es = tryDh(ephemeralPrivate, hs.remoteStatic);
  if (!es) return undefined;
  let key: Uint8Array;
  [c, key] = kdf2(c, es);
  const encryptedStatic = aeadSeal(key, 0, identity.publicKey, h);
  h = hash(h, encryptedStatic);
  [c, key] = kdf2(c, hs.staticStatic);
  const encryptedTimestamp = aeadSeal(key, 0, timestamp, h);
  h = hash(h, encryptedTimestamp);
  Object.assign(hs, { stage: 'initiationCreated', hash: h, chainKey: c, localEphemeral: ephemeralPrivate, localIndex });
  return { sender: localIndex, ephemeral, encryptedStatic, encryptedTimestamp };
}

/** Responder, message 1, first half: who sent it. Decrypts the initiator's static key. */
export interface ConsumedInitiation {
  remoteStatic: Uint8Array;
  timestamp: Uint8Array;
  hash: Uint8Array;
  chainKey: Uint8Array;
  remoteEphemeral: Uint8Array;
  sender: number;
}

export type ConsumeInitiationResult =
  | { ok: true; hs: PeerHandshake; consumed: ConsumedInitiation }
  | { ok: false; reason: 'handshakeFailed' | 'replayedHandshake' };

/**
 * Responder, message 1. `findPeer` maps the decrypted static key to that peer's handshake state
 * (undefined: not a peer of ours). On success the peer's state moves to initiationConsumed.
 * Replay protection (whitepaper 5.1): the timestamp must be newer than the last accepted one, and
 * initiations closer than HANDSHAKE_INITIATION_RATE_MS are a flood.
 */
export function consumeInitiation(
  identity: Identity,
  msg: InitiationBody,
  findPeer: (remoteStatic: Uint8Array) => PeerHandshake | undefined,
  nowMs: number,
): ConsumeInitiationResult {
  const fail = { ok: false, reason: 'handshakeFailed' } as const;
  let c = INITIAL_CHAIN_KEY;
  let h = hash(INITIAL_HASH, identity.publicKey);
  c = kdf1(c, msg.ephemeral);
  h = hash(h, msg.ephemeral);
  const es = tryDh(identity.privateKey, msg.ephemeral);
  if (!es) return fail;
  let key: Uint8Array;
  [c, key] = kdf2(c, es);
  const remoteStatic = aeadOpen(key, 0, msg.encryptedStatic, h);
  if (!remoteStatic) return fail;
  h = hash(h, msg.encryptedStatic);
  const hs = findPeer(remoteStatic);
  if (!hs || !hs.staticStatic) return fail;
  [c, key] = kdf2(c, hs.staticStatic);
  const timestamp = aeadOpen(key, 0, msg.encryptedTimestamp, h);
  if (!timestamp) return fail;
  h = hash(h, msg.encryptedTimestamp);
  const replay = !tai64nAfter(timestamp, hs.lastTimestamp);
  const flood = nowMs - hs.lastInitiationConsumedMs <= HANDSHAKE_INITIATION_RATE_MS;
  if (replay || flood) return { ok: false, reason: 'replayedHandshake' };
  Object.assign(hs, {
    stage: 'initiationConsumed',
    hash: h,
    chainKey: c,
    remoteEphemeral: Uint8Array.from(msg.ephemeral),
    remoteIndex: msg.sender,
    lastTimestamp: timestamp,
    lastInitiationConsumedMs: nowMs,
  });
  return { ok: true, hs, consumed: { remoteStatic, timestamp, hash: h, chainKey: c, remoteEphemeral: msg.ephemeral, sender: msg.sender } };
}

/** Responder, message 2. Requires stage initiationConsumed. */
export function createResponse(hs: PeerHandshake, localIndex: number, ephemeralPrivate: Uint8Array): ResponseBody | undefined {
  if (hs.stage !== 'initiationConsumed') return undefined;
  let c = hs.chainKey;
  let h = hs.hash;
  const ephemeral = dhPublic(ephemeralPrivate);
  c = kdf1(c, ephemeral);
  h = hash(h, ephemeral);
  const ee = tryDh(ephemeralPrivate, hs.remoteEphemeral);
  const se = tryDh(ephemeralPrivate, hs.remoteStatic);
  if (!ee || !se) return undefined;
  c = kdf1(c, ee);
  c = kdf1(c, se);
  const [c2, tau, key] = kdf3(c, hs.presharedKey);
  c = c2;
  h = hash(h, tau);
  const encryptedNothing = aeadSeal(key, 0, EMPTY, h);
  h = hash(h, encryptedNothing);
  Object.assign(hs, { stage: 'responseCreated', hash: h, chainKey: c, localEphemeral: ephemeralPrivate, localIndex });
  return { sender: localIndex, receiver: hs.remoteIndex, ephemeral, encryptedNothing };
}

/** Initiator, message 2. Requires stage initiationCreated and msg.receiver === hs.localIndex. */
export function consumeResponse(identity: Identity, hs: PeerHandshake, msg: ResponseBody): boolean {
  if (hs.stage !== 'initiationCreated' || msg.receiver !== hs.localIndex) return false;
  let c = hs.chainKey;
  let h = hs.hash;
  c = kdf1(c, msg.ephemeral);
  h = hash(h, msg.ephemeral);
  const ee = tryDh(hs.localEphemeral, msg.ephemeral);
  const se = tryDh(identity.privateKey, msg.ephemeral);
  if (!ee || !se) return false;
  c = kdf1(c, ee);
  c = kdf1(c, se);
  const [c2, tau, key] = kdf3(c, hs.presharedKey);
  c = c2;
  h = hash(h, tau);
  if (!aeadOpen(key, 0, msg.encryptedNothing, h)) return false;
  h = hash(h, msg.encryptedNothing);
  Object.assign(hs, { hash: h, chainKey: c, remoteEphemeral: Uint8Array.from(msg.ephemeral), remoteIndex: msg.sender });
  return true;
}

export interface SessionKeys {
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

/**
 * Transport keys (whitepaper 5.4.5): (T_send_i, T_recv_i) = KDF2(C, empty), mirrored for the responder.
 * Zeroes the handshake state, so a consumed handshake cannot derive keys twice.
 */
export function deriveSessionKeys(hs: PeerHandshake, isInitiator: boolean): SessionKeys | undefined {
  if (hs.chainKey.length !== 32) return undefined;
  if (isInitiator ? hs.stage !== 'initiationCreated' : hs.stage !== 'responseCreated') return undefined;
  const [t1, t2] = kdf2(hs.chainKey, EMPTY);
  const keys = {
    sendKey: isInitiator ? t1 : t2,
    receiveKey: isInitiator ? t2 : t1,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  zeroHandshake(hs);
  return keys;
}

/**
 * A copy of an in-flight handshake, sharing no buffer with it: what a crossed initiation leaves of our
 * own (handshake-path.ts keeps it so that a response to it still completes).
 */
export function cloneHandshake(hs: PeerHandshake): PeerHandshake {
  return {
    ...hs,
    hash: Uint8Array.from(hs.hash),
    chainKey: Uint8Array.from(hs.chainKey),
    localEphemeral: Uint8Array.from(hs.localEphemeral),
    remoteEphemeral: Uint8Array.from(hs.remoteEphemeral),
  };
}

/** Forgets the in-flight handshake (keys and ephemerals), keeping the peer's identity and replay state. */
export function zeroHandshake(hs: PeerHandshake): void {
  hs.chainKey.fill(0);
  hs.hash = EMPTY;
  hs.chainKey = EMPTY;
  hs.localEphemeral.fill(0);
  hs.localEphemeral = EMPTY;
  hs.remoteEphemeral = EMPTY;
  hs.stage = 'zeroed';
}

export function samePublicKey(a: Uint8Array, b: Uint8Array): boolean {
  return equalConstantTime(a, b);
}

export { ZERO_KEY };
