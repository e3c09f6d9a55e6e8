/**
 * STUN server: answers Binding requests with XOR-MAPPED-ADDRESS. Given an alternate address and port
 * it binds the four RFC 5780 combinations (A1:P1, A1:P2, A2:P1, A2:P2), advertises OTHER-ADDRESS and
 * honours CHANGE-REQUEST by answering from the socket with the other IP and/or port, which is what
 * lets a client test NAT filtering.
 *
 * A STUN server answers strangers over UDP, so it is a reflector: answers are kept small (see
 * answerBinding and the amplification table in README.md) and rate-limited per source and overall
 * (ratelimit.ts); it binds only the addresses it is given, never a wildcard.
 *
 * answerBinding() is the pure decision; StunServer is the thin edge that owns the sockets.
 */
import { realClock, type Clock } from '../clock/clock.ts';
import { ConegateError, DecodeError } from '../errors.ts';
import { parseIp } from '../net/ip.ts';
import { familyOf, type UdpBind, type UdpEndpoint } from './bind.ts';
import { DEFAULT_STUN_LIMITS, StunRateLimiter, type StunRateLimits } from './ratelimit.ts';
import { ATTR, decodeStun, encodeStun, isComprehensionRequired, isStun, METHOD_BINDING, type StunAddress, type StunMessage } from './codec.ts';

/** One server identity: a primary address, and optionally the RFC 5780 alternate (same family). */
export interface StunServerGroup {
  primary: UdpEndpoint;
  other?: UdpEndpoint;
}

/** Which of the (up to) four sockets of a group: ip 0 = primary address, 1 = alternate; port likewise. */
export interface SocketSlot {
  ip: 0 | 1;
  port: 0 | 1;
}

export interface Answer {
  reply: Uint8Array;
  /** The socket the reply must leave from (differs from the receiving one after a CHANGE-REQUEST). */
  via: SocketSlot;
  /** Where the reply goes: the request's source, or its address with the RFC 5780 RESPONSE-PORT. */
  to: UdpEndpoint;
}

// Comprehension-required attributes an ICE agent or RFC 5780 client may send that a credential-less
// Binding server can safely ignore: answering them with 420 would break those clients for nothing.
const IGNORABLE = new Set<number>([ATTR.USERNAME, ATTR.MESSAGE_INTEGRITY, 0x001c, 0x0014, 0x0015, 0x0024, 0x0025, 0x0026]);

export const SERVER_SOFTWARE = 'conegate';

/** The endpoint of a slot in a group. */
export function slotEndpoint(g: StunServerGroup, s: SocketSlot): UdpEndpoint {
  const address = s.ip === 1 && g.other ? g.other.address : g.primary.address;
  const port = s.port === 1 && g.other ? g.other.port : g.primary.port;
  return { address, port };
}

/** The slots a group binds: one without an alternate, four with. */
export function groupSlots(g: StunServerGroup): SocketSlot[] {
  if (!g.other) return [{ ip: 0, port: 0 }];
  return [{ ip: 0, port: 0 }, { ip: 0, port: 1 }, { ip: 1, port: 0 }, { ip: 1, port: 1 }];
}

/**
 * Decides the answer to one datagram that arrived on slot `at` of group `g` from `from`.
 * Returns undefined to drop it (not STUN, malformed, not a Binding request).
 */
export function answerBinding(bytes: Uint8Array, from: UdpEndpoint, at: SocketSlot, g: StunServerGroup): Answer | undefined {
  if (!isStun(bytes)) return undefined;
  let req: StunMessage;
  try {
    req = decodeStun(bytes);
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    throw e;
  }
  // RFC 8489 section 6.3: indications and responses are never answered; other methods are not ours.
  if (req.kind !== 'request' || req.method !== METHOD_BINDING) return undefined;
  const fam = familyOf(from.address);
  if (!fam) return undefined;

  // RFC 8489 section 14.7: FINGERPRINT is optional; mirroring the request's keeps the answer as small
  // as the client allows. SOFTWARE (section 14.14) is only informational and rides along only when the
  // request was at least as large as the answer with it, so it never adds to the amplification.
  const base = { method: METHOD_BINDING, transactionId: req.transactionId, ...(req.fingerprint ? { fingerprint: true } : {}) } as const;
  const unknown = (req.unknown ?? []).map((a) => a.type).filter((t) => isComprehensionRequired(t) && !IGNORABLE.has(t));
  const change = req.changeRequest ?? { changeIp: false, changePort: false };
  // RFC 5780 section 7.2: a server without an alternate address cannot change IP or port: 420.
  if ((change.changeIp || change.changePort) && !g.other) unknown.push(ATTR.CHANGE_REQUEST);
  // RESPONSE-PORT (RFC 5780 section 7.5) is refused: honouring it makes the server a reflector aimed
  // at any port of the (spoofable) source address, e.g. a victim's DNS or NTP port. It is
  // comprehension-required (0x0027), so the refusal a client can act on is 420 naming it (RFC 8489
  // section 6.3.1.1), not silence and not an answer to a port the client is not listening on. Its one
  // use, telling filtering from mapping with a second client socket, is served by CHANGE-REQUEST.
  if (req.responsePort !== undefined) unknown.push(ATTR.RESPONSE_PORT);
  if (unknown.length > 0) {
    return { reply: encodeStun({ ...base, kind: 'error', errorCode: { code: 420, reason: 'Unknown Attribute' }, unknownAttributes: unknown }), via: at, to: from };
  }

  const via: SocketSlot = { ip: change.changeIp ? ((1 - at.ip) as 0 | 1) : at.ip, port: change.changePort ? ((1 - at.port) as 0 | 1) : at.port };
  const mapped: StunAddress = { family: fam, address: from.address, port: from.port };
  // No MAPPED-ADDRESS: it is only for RFC 3489 clients, whose requests lack the magic cookie and are
  // dropped by isStun above, so it would be 12-24 bytes of amplification for nobody.
  const res: StunMessage = { ...base, kind: 'success', xorMappedAddress: mapped };
  // RESPONSE-ORIGIN and OTHER-ADDRESS are the RFC 5780 discovery attributes: a single-address server
  // does not offer that behaviour discovery, and omitting them keeps its answers smaller.
  if (g.other) {
    res.responseOrigin = { family: fam, ...slotEndpoint(g, via) };
    res.otherAddress = { family: fam, ...slotEndpoint(g, { ip: (1 - at.ip) as 0 | 1, port: (1 - at.port) as 0 | 1 }) };
  }
  let reply = encodeStun(res);
  const withSoftware = encodeStun({ ...res, software: SERVER_SOFTWARE });
  if (withSoftware.length <= bytes.length) reply = withSoftware;
  return { reply, via, to: from };
}

/** An unspecified (wildcard) address: 0.0.0.0 or ::. */
function isWildcard(address: string): boolean {
  const ip = parseIp(address);
  return ip !== undefined && ip.bytes.every((b) => b === 0);
}

/** Checks a group: addresses are IPs, the alternate shares the family and differs in both IP and port. */
export function validateGroup(g: StunServerGroup): void {
  const fam = familyOf(g.primary.address);
  if (!fam) throw new ConegateError('CG_USAGE', `listen address must be an IP address: ${g.primary.address}`);
  // A wildcard answers on every address of the host, including ones never meant to face the internet,
  // and RESPONSE-ORIGIN could not name the address an answer leaves from.
  for (const ep of [g.primary, ...(g.other ? [g.other] : [])]) {
    if (isWildcard(ep.address)) throw new ConegateError('CG_USAGE', `${ep.address} is a wildcard: give the address the STUN server should answer on`);
  }
  if (!g.other) return;
  if (familyOf(g.other.address) !== fam) throw new ConegateError('CG_USAGE', `--other ${g.other.address} is not the same address family as ${g.primary.address}`);
  // Port 0 on both (tests) is fine: each slot gets its own ephemeral port.
  if (g.other.address === g.primary.address || (g.other.port === g.primary.port && g.primary.port !== 0)) {
    throw new ConegateError('CG_USAGE', 'RFC 5780 needs an alternate with a different IP address AND a different port');
  }
}

export interface StunServerStats {
  answered: number;
  changed: number;
  errors: number;
  dropped: number;
  /** Requests dropped by the rate limits (not answered). */
  limited: number;
}

export interface StunServerDeps {
  openBind: (address: string, port: number) => Promise<UdpBind>;
  /** Monotonic time for the rate limits; default the real clock. */
  clock?: Clock;
  limits?: StunRateLimits;
}

/** The server edge: binds every slot of every group, answers through answerBinding. start/stop idempotent. */
export class StunServer {
  readonly stats: StunServerStats = { answered: 0, changed: 0, errors: 0, dropped: 0, limited: 0 };
  private binds: UdpBind[] = [];
  private started = false;
  /** The groups as bound (port 0 replaced by the real port). */
  readonly resolved: StunServerGroup[] = [];

  constructor(
    private readonly groups: StunServerGroup[],
    private readonly deps: StunServerDeps,
  ) {
    for (const g of groups) validateGroup(g);
  }

  /** The endpoints actually bound (ports resolved), in group then slot order. */
  get endpoints(): UdpEndpoint[] {
    return this.binds.map((b) => b.local);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const clock = this.deps.clock ?? realClock;
    const limiter = new StunRateLimiter(this.deps.limits ?? DEFAULT_STUN_LIMITS, clock.nowMs());
    try {
      for (const g of this.groups) {
        const slots = groupSlots(g);
        const bySlot = new Map<string, UdpBind>();
        // Port 0 (tests) resolves at the first bind of each port; slot order binds both ports on the
        // primary address before the alternate address needs them.
        const resolved: StunServerGroup = { primary: { ...g.primary }, ...(g.other ? { other: { ...g.other } } : {}) };
        for (const s of slots) {
          const ep = slotEndpoint(resolved, s);
          const b = await this.deps.openBind(ep.address, ep.port);
          this.binds.push(b);
          bySlot.set(`${s.ip}${s.port}`, b);
          if (s.ip === 0 && s.port === 0) resolved.primary.port = b.local.port;
          if (s.ip === 0 && s.port === 1 && resolved.other) resolved.other.port = b.local.port;
        }
        this.resolved.push(resolved);
        for (const s of slots) {
          const b = bySlot.get(`${s.ip}${s.port}`)!;
          b.onMessage((bytes, from) => {
            if (!limiter.allow(from.address, clock.nowMs())) {
              this.stats.limited++;
              return;
            }
            const a = answerBinding(bytes, from, s, resolved);
            if (!a) {
              this.stats.dropped++;
              return;
            }
            if (a.via.ip !== s.ip || a.via.port !== s.port) this.stats.changed++;
            if (a.reply[1] === 0x11) this.stats.errors++;
            else this.stats.answered++;
            const out = bySlot.get(`${a.via.ip}${a.via.port}`) ?? b;
            out.send(a.reply, a.to.address, a.to.port).catch(() => undefined); // a lost reply is a lost datagram
          });
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    const binds = this.binds;
    this.binds = [];
    this.resolved.length = 0;
    this.started = false;
    await Promise.all(binds.map((b) => b.close()));
  }
}
