/**
 * A NAT as a pure model for the in-memory network (RFC 4787 vocabulary): mapping behaviour is which
 * part of the destination keys the public port; filtering is which remote endpoints may send in once
 * a mapping exists. Hosts whose address is in `inside` sit behind it; everything else is "internet".
 */
import type { Datagram, Middlebox } from '../../agent/src/stun/memory-bind.ts';
import type { UdpEndpoint } from '../../agent/src/stun/bind.ts';

export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatModelOptions {
  inside: string[];
  publicAddress: string;
  mapping: Behaviour;
  filtering: Behaviour;
  hairpin: boolean;
  /** Drop every UDP datagram crossing the NAT (a firewall that blocks UDP). */
  blockUdp?: boolean;
}

interface Mapping {
  internal: UdpEndpoint;
  publicPort: number;
  /** Remote keys (per filtering behaviour) this mapping has sent to. */
  permits: Set<string>;
}

export interface NatModel {
  middlebox: Middlebox;
  /** Number of mappings created, for tests to assert. */
  mappingCount(): number;
}

export function natModel(o: NatModelOptions): NatModel {
  const byKey = new Map<string, Mapping>();
  const byPort = new Map<number, Mapping>();
  let nextPort = 20000;
  const mapKey = (src: UdpEndpoint, dst: UdpEndpoint): string =>
    o.mapping === 'endpoint-independent' ? `${src.address}:${src.port}` : o.mapping === 'address-dependent' ? `${src.address}:${src.port}>${dst.address}` : `${src.address}:${src.port}>${dst.address}:${dst.port}`;
  const filterKey = (remote: UdpEndpoint): string =>
    o.filtering === 'endpoint-independent' ? '*' : o.filtering === 'address-dependent' ? remote.address : `${remote.address}:${remote.port}`;

  const inbound = (d: Datagram): Datagram | undefined => {
    const m = byPort.get(d.dst.port);
    if (!m || !m.permits.has(filterKey(d.src))) return undefined;
    return { src: d.src, dst: m.internal };
  };

  const middlebox: Middlebox = (d) => {
    const fromInside = o.inside.includes(d.src.address);
    const toInside = o.inside.includes(d.dst.address);
    if (fromInside && toInside) return d;
    if (o.blockUdp && (fromInside || d.dst.address === o.publicAddress)) return undefined;
    if (fromInside) {
      const k = mapKey(d.src, d.dst);
      let m = byKey.get(k);
      if (!m) {
        m = { internal: d.src, publicPort: nextPort++, permits: new Set() };
        byKey.set(k, m);
        byPort.set(m.publicPort, m);
      }
      m.permits.add(filterKey(d.dst));
      const src = { address: o.publicAddress, port: m.publicPort };
      if (d.dst.address === o.publicAddress) return o.hairpin ? inbound({ src, dst: d.dst }) : undefined;
      return { src, dst: d.dst };
    }
    if (d.dst.address === o.publicAddress) return inbound(d);
    return d;
  };
  return { middlebox, mappingCount: () => byKey.size };
}
