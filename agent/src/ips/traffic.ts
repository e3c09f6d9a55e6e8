/**
 * "Our traffic": the one place that says which packets conegate sends and receives, as concrete
 * samples an IPS rule is judged against. Everything else in ips/ asks this file; when the STUN and
 * WireGuard codecs land, swap the builders in shapes.ts for them here.
 */
import type { Endpoint, Packet } from './rules/packet.ts';
import { natPmpExternalAddressRequest, pcpMapRequest, stunBindingRequest, stunBindingResponse, tlsClientHello, wireguardShaped, filler } from './shapes.ts';

export type TrafficKind = 'stun' | 'wireguard' | 'relay' | 'coordinator' | 'natpmp';

export const TRAFFIC_KINDS: readonly TrafficKind[] = ['stun', 'wireguard', 'relay', 'coordinator', 'natpmp'];

export interface SamplePacket {
  kind: TrafficKind;
  /** Short stable name, e.g. "wg-initiation-out". */
  name: string;
  packet: Packet;
}

export interface TrafficOptions {
  meshPorts: number[];
  relayPorts: number[];
  /** STUN server port (RFC 8489 default). */
  stunPort?: number;
  coordinatorPort?: number;
}

/** What Suricata's protocol detection makes of each kind (it has no STUN or WireGuard parser: names of our own). */
const APP_PROTO: Partial<Record<TrafficKind, string>> = { stun: 'stun', wireguard: 'wireguard', relay: 'tls', coordinator: 'tls' };

/** A peer behind a NAT answers from whatever port its NAT picked: any high port. */
const NAT_PICKED_PORT = 50123;
/** An ephemeral client port, for TCP connections and for NAT-PMP clients. */
const EPHEMERAL_PORT = 49152 + 1234;

const lan = (port: number): Endpoint => ({ side: 'lan', port });
const remote = (port: number): Endpoint => ({ side: 'remote', port });

function udp(src: Endpoint, dst: Endpoint, payload: Uint8Array, toServer: boolean, established: boolean): Packet {
  return { transport: 'udp', src, dst, payload, toServer, established };
}

/** Every sample packet of our traffic, both directions, for the given ports. */
export function ourTraffic(opts: TrafficOptions): SamplePacket[] {
  const stunPort = opts.stunPort ?? 3478;
  const out: SamplePacket[] = [];
  const add = (kind: TrafficKind, name: string, packet: Packet) => out.push({ kind, name, packet: { ...packet, appProto: APP_PROTO[kind] ?? (name.startsWith('pcp') ? 'pcp' : 'natpmp') } });
  const txid = filler(12, 3);
  for (const mesh of opts.meshPorts) {
    // STUN to a server on 3478 from the mesh socket, and its answer.
    add('stun', `stun-request-to-${stunPort}`, udp(lan(mesh), remote(stunPort), stunBindingRequest(txid), true, false));
    add('stun', `stun-response-from-${stunPort}`, udp(remote(stunPort), lan(mesh), stunBindingResponse(txid, [198, 51, 100, 7], mesh), false, true));
    // Peer-to-peer STUN pings during hole punching: mesh port to mesh port or to a NAT-picked port.
    for (const peerPort of [mesh, NAT_PICKED_PORT]) {
      add('stun', `stun-peer-out-${peerPort}`, udp(lan(mesh), remote(peerPort), stunBindingRequest(txid), true, false));
      add('stun', `stun-peer-in-${peerPort}`, udp(remote(peerPort), lan(mesh), stunBindingRequest(filler(12, 5)), true, false));
    }
    for (const peerPort of [mesh, NAT_PICKED_PORT]) {
      // Either side may initiate a WireGuard handshake; data flows both ways once established.
      add('wireguard', `wg-initiation-out-${peerPort}`, udp(lan(mesh), remote(peerPort), wireguardShaped(1), true, false));
      add('wireguard', `wg-initiation-in-${peerPort}`, udp(remote(peerPort), lan(mesh), wireguardShaped(1, 21), true, false));
      add('wireguard', `wg-response-in-${peerPort}`, udp(remote(peerPort), lan(mesh), wireguardShaped(2), false, true));
      add('wireguard', `wg-response-out-${peerPort}`, udp(lan(mesh), remote(peerPort), wireguardShaped(2, 22), false, true));
      add('wireguard', `wg-cookie-in-${peerPort}`, udp(remote(peerPort), lan(mesh), wireguardShaped(3), false, true));
      add('wireguard', `wg-keepalive-out-${peerPort}`, udp(lan(mesh), remote(peerPort), wireguardShaped(4, 4, 16), true, true));
      add('wireguard', `wg-data-out-${peerPort}`, udp(lan(mesh), remote(peerPort), wireguardShaped(4, 5, 96), true, true));
      add('wireguard', `wg-data-in-${peerPort}`, udp(remote(peerPort), lan(mesh), wireguardShaped(4, 6, 96), false, true));
    }
    // NAT-PMP/PCP from a LAN host to the router (the router's own address is inside $HOME_NET).
    add('natpmp', 'natpmp-external-address', udp(lan(EPHEMERAL_PORT), lan(5351), natPmpExternalAddressRequest(), true, false));
    add('natpmp', 'pcp-map', udp(lan(EPHEMERAL_PORT), lan(5351), pcpMapRequest([192, 168, 1, 20], mesh), true, false));
  }
  for (const port of opts.relayPorts) {
    add('relay', `relay-clienthello-${port}`, tcp(port, tlsClientHello('relay.example.com')));
  }
  add('coordinator', 'coordinator-clienthello', tcp(opts.coordinatorPort ?? 443, tlsClientHello('coordinator.example.com', 12)));
  return dedupe(out);
}

function tcp(port: number, payload: Uint8Array): Packet {
  // The ClientHello is the first data segment after the TCP handshake: established, to the server.
  return { transport: 'tcp', src: lan(EPHEMERAL_PORT), dst: remote(port), payload, toServer: true, established: true };
}

function dedupe(list: SamplePacket[]): SamplePacket[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = `${s.name}/${s.packet.src.port}/${s.packet.dst.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
