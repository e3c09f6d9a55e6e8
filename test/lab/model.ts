/**
 * A pure model of RFC 4787 NATs, for reasoning about traversal without namespaces, and checked against
 * the lab (grid.test.ts): the lab is the truth, the model must agree with it.
 * A NatBox keeps conntrack-like flows, mappings keyed by what the mapping type says, and per-mapping
 * records of the remote endpoints it sent to (what the filtering type consults).
 */
import type { FilteringType, MappingType } from './spec.ts';

export interface ModelEndpoint {
  addr: string;
  port: number;
}

const ep = (e: ModelEndpoint) => `${e.addr}:${e.port}`;

interface MappingState {
  internal: ModelEndpoint;
  sentTo: Set<string>;
}

/** One NAT: outbound translation and inbound admission, no clock (mappings never expire here). */
export class NatBox {
  private readonly flows = new Map<string, number>();
  private readonly mappings = new Map<string, number>();
  private readonly owners = new Map<number, MappingState>();
  private nextPort = 20000;

  constructor(
    readonly nat: { mapping: MappingType; filtering: FilteringType },
    readonly publicAddr: string,
  ) {}

  private mappingKey(src: ModelEndpoint, dst: ModelEndpoint): string {
    if (this.nat.mapping === 'eim') return ep(src);
    if (this.nat.mapping === 'adm') return `${ep(src)}>${dst.addr}`;
    return `${ep(src)}>${ep(dst)}`;
  }

  private freePort(): number {
    while (this.owners.has(this.nextPort)) this.nextPort++;
    return this.nextPort++;
  }

  /** Translates a packet leaving src for dst; returns the external source endpoint. */
  outbound(src: ModelEndpoint, dst: ModelEndpoint): ModelEndpoint {
    const flowKey = `${ep(src)}>${ep(dst)}`;
    let port = this.flows.get(flowKey);
    if (port === undefined) {
      const mk = this.mappingKey(src, dst);
      port = this.mappings.get(mk);
      if (port === undefined) {
        // Port preservation for EIM (the lab's port-preserving snat), a fresh port otherwise.
        port = this.nat.mapping === 'eim' && !this.owners.has(src.port) ? src.port : this.freePort();
        this.mappings.set(mk, port);
        this.owners.set(port, { internal: src, sentTo: new Set() });
      }
      this.flows.set(flowKey, port);
    }
    this.owners.get(port)!.sentTo.add(ep(dst));
    return { addr: this.publicAddr, port };
  }

  /** Admits a packet from `from` to the external port, returning the internal destination, or null (dropped). */
  inbound(from: ModelEndpoint, port: number): ModelEndpoint | null {
    const owner = this.owners.get(port);
    if (!owner) return null;
    const replyOfFlow = this.flows.get(`${ep(owner.internal)}>${ep(from)}`) === port;
    const allowed =
      replyOfFlow ||
      this.nat.filtering === 'eif' ||
      (this.nat.filtering === 'adf' && [...owner.sentTo].some((k) => k.slice(0, k.lastIndexOf(':')) === from.addr)) ||
      (this.nat.filtering === 'apdf' && owner.sentTo.has(ep(from)));
    if (!allowed) return null;
    // Like a conntrack entry made by the inbound dnat: the reply leaves from this same port.
    this.flows.set(`${ep(owner.internal)}>${ep(from)}`, port);
    return owner.internal;
  }
}

/** A host behind a chain of NATs (innermost first). */
class Side {
  readonly boxes: NatBox[];
  received = 0;
  constructor(
    readonly host: ModelEndpoint,
    nats: Array<{ mapping: MappingType; filtering: FilteringType }>,
    name: string,
  ) {
    this.boxes = nats.map((n, i) => new NatBox(n, `${name}${i}`));
  }
  get publicAddr(): string {
    return this.boxes.at(-1)?.publicAddr ?? this.host.addr;
  }
  send(dst: ModelEndpoint): ModelEndpoint {
    let src = this.host;
    for (const b of this.boxes) src = b.outbound(src, dst);
    return src;
  }
  /** Delivers a packet to this side's public endpoint; returns whether the host got it. */
  deliver(from: ModelEndpoint, to: ModelEndpoint): boolean {
    let dst: ModelEndpoint | null = to;
    for (const b of [...this.boxes].reverse()) {
      dst = b.inbound(from, dst.port);
      if (!dst) return false;
    }
    return true;
  }
}

/**
 * Would simultaneous UDP hole punching between two hosts work? Each learns its reflexive address from a
 * server, then both send to the other's reflexive address for a few rounds and answer what arrives
 * (the lab's `probe punch`). Works when each host receives at least one packet from the other.
 */
export function predictDirect(natsA: Array<{ mapping: MappingType; filtering: FilteringType }>, natsB: Array<{ mapping: MappingType; filtering: FilteringType }>): boolean {
  const server = { addr: 'server', port: 3478 };
  const a = new Side({ addr: 'a-host', port: 51820 }, natsA, 'a');
  const b = new Side({ addr: 'b-host', port: 51820 }, natsB, 'b');
  const aRefl = a.send(server);
  const bRefl = b.send(server);
  for (let round = 0; round < 4; round++) {
    const fromA = a.send(bRefl);
    const fromB = b.send(aRefl);
    for (const [rx, tx, from, to] of [[b, a, fromA, bRefl], [a, b, fromB, aRefl]] as const) {
      if (!rx.deliver(from, to)) continue;
      rx.received++;
      // The receiver answers the source it saw.
      const ackFrom = rx.send(from);
      if (tx.deliver(ackFrom, from)) tx.received++;
    }
  }
  return a.received > 0 && b.received > 0;
}
