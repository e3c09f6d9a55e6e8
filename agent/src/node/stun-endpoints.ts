/**
 * STUN on the mesh socket itself: a binding request to each configured server from the one UDP socket
 * WireGuard uses, so the XOR-MAPPED-ADDRESS is the mapping peers can actually send to (behind an
 * endpoint-independent NAT; behind a symmetric one it only says which address, hole punching comes
 * later). Answers are matched by transaction id and source; anything else is ignored and counted.
 */
import { lookup } from 'node:dns/promises';
import { DecodeError } from '../errors.ts';
import { parseHostPort, parseIp } from '../net/ip.ts';
import { bindingRequest, decodeStun } from '../stun/codec.ts';
import type { Endpoint } from '../wg/ports.ts';
import { formatAddrPort } from './endpoints.ts';

export class MeshStun {
  /** Mapped endpoints by server ("a:p" -> "x:q"). */
  private readonly mapped = new Map<string, string>();
  private readonly pending = new Map<string, string>();
  ignored = 0;
  /** Probe rounds sent, and answers accepted (ever): "UDP passes here" needs one answer. */
  rounds = 0;
  answers = 0;
  private answersAtRound = 0;

  constructor(
    private readonly servers: string[],
    private readonly send: (packet: Uint8Array, to: Endpoint) => void,
    private readonly randomBytes: (n: number) => Uint8Array,
    private readonly onChange: () => void,
  ) {}

  /** Sends one binding request per server (a lost one is simply retried at the next round). */
  async probe(): Promise<void> {
    this.pending.clear();
    this.rounds++;
    this.answersAtRound = this.answers;
    for (const s of this.servers) {
      const hp = parseHostPort(s);
      if (!hp) continue;
      let address = hp.host;
      if (!parseIp(address)) {
        try {
          address = (await lookup(address)).address;
        } catch {
          continue;
        }
      }
      const tx = this.randomBytes(12);
      this.pending.set(Buffer.from(tx).toString('hex'), formatAddrPort(address, hp.port));
      this.send(bindingRequest(tx), { address, port: hp.port });
    }
  }

  /** A STUN datagram from the demux. */
  onPacket(packet: Uint8Array, from: Endpoint): void {
    let msg;
    try {
      msg = decodeStun(packet);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.ignored++;
      return;
    }
    const key = Buffer.from(msg.transactionId).toString('hex');
    const server = this.pending.get(key);
    const mapped = msg.xorMappedAddress ?? msg.mappedAddress;
    if (msg.kind !== 'success' || !server || server !== formatAddrPort(from.address, from.port) || !mapped) {
      this.ignored++;
      return;
    }
    this.pending.delete(key);
    this.answers++;
    const text = formatAddrPort(mapped.address, mapped.port);
    if (this.mapped.get(server) !== text) {
      this.mapped.set(server, text);
      this.onChange();
    }
  }

  endpoints(): string[] {
    return [...new Set(this.mapped.values())];
  }

  /** True once the latest round has had an answer. */
  answeredThisRound(): boolean {
    return this.answers > this.answersAtRound;
  }

  /**
   * What the NAT does, as far as STUN shows: `udp` false only after two rounds without any answer
   * ever (one lost datagram is not a blocked network); `mappingVariesByDest` true when two servers
   * saw different mapped endpoints (the NAT maps per destination), false when at least two saw the
   * same one, undefined with fewer than two answers.
   */
  natBehaviour(): { udp: boolean | undefined; mappingVariesByDest: boolean | undefined } {
    const udp = this.answers > 0 ? true : this.rounds >= 2 ? false : undefined;
    if (this.mapped.size < 2) return { udp, mappingVariesByDest: undefined };
    return { udp, mappingVariesByDest: new Set(this.mapped.values()).size > 1 };
  }
}
