/**
 * The UDP relay client's edge: the pure core (client-core.ts) driven by a Clock, sending through the
 * node's sockets (the SocketSet of agent/src/paths, or anything with its `send`), and fed by the path
 * router with every datagram that looks like a relay packet. Control and data share the socket the path
 * is bound from, so the relay sees data from exactly the source it challenged.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from '../../paths/types.ts';
import { FLAG_FROM_RELAY, HEADER_LEN, MARK, PROTOCOL_CODE, VERSION, encodeData, isUdpRelayPacket } from './codec.ts';
import { UdpRelayClientCore, CLIENT_TIMING, type ClientOutput, type UdpRelayClientCoreDeps } from './client-core.ts';
import type { NodeKeyHex, UdpRelayClientApi, UdpRelayNode, UdpRelayVia } from './types.ts';

export interface UdpRelayClientDeps extends Omit<UdpRelayClientCoreDeps, 'randomBytes'> {
  sockets: Pick<SocketSet, 'send'>;
  clock: Clock;
  randomBytes?: (n: number) => Uint8Array;
  timing?: typeof CLIENT_TIMING;
}

export interface UdpRelayClientCounters {
  sent: number;
  received: number;
  dropped: number;
}

export function createUdpRelayClient(deps: UdpRelayClientDeps): UdpRelayClientApi & { counters(): UdpRelayClientCounters } {
  const core = new UdpRelayClientCore({ ...deps, randomBytes: deps.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n))) }, deps.timing);
  let packetHandler: Parameters<UdpRelayClientApi['onPacket']>[0] = () => undefined;
  let changeHandler: Parameters<UdpRelayClientApi['onChange']>[0] = () => undefined;
  let cancel: CancelTimer | undefined;
  let closed = false;
  const counters: UdpRelayClientCounters = { sent: 0, received: 0, dropped: 0 };

  const perform = (outputs: ClientOutput[]): void => {
    for (const o of outputs) {
      if (o.t === 'send') deps.sockets.send(o.socket, o.packet, o.to);
      else changeHandler(o.peer, o.via);
    }
    arm();
  };

  const arm = (): void => {
    cancel?.();
    cancel = undefined;
    const next = core.nextWakeMs();
    if (closed || next === undefined) return;
    cancel = deps.clock.setTimer(Math.max(0, next - deps.clock.nowMs()), () => {
      cancel = undefined;
      perform(core.tick(deps.clock.nowMs()));
    });
  };

  return {
    want(peer: NodeKeyHex, relay: UdpRelayNode, socket: SocketId = MESH_SOCKET) {
      if (!closed) perform(core.want(peer, relay, socket, deps.clock.nowMs()));
    },
    drop(peer) {
      perform(core.drop(peer));
    },
    via: (peer) => core.via(peer),
    send(via: UdpRelayVia, packet: Uint8Array, protocol: 'wireguard' | 'disco' = 'wireguard') {
      counters.sent++;
      deps.sockets.send(via.socket, encodeData(protocol, via.vni, packet), via.relay);
    },
    receive(packet: Uint8Array, from: Endpoint, _socket: SocketId): boolean {
      if (!isUdpRelayPacket(packet)) return false;
      const proto = (packet[2]! << 8) | packet[3]!;
      if (proto === PROTOCOL_CODE.control) {
        perform(core.onControl(packet, from, deps.clock.nowMs()));
        return true;
      }
      // Only what the relay itself sent is relayed data; anything else with our mark is dropped. The relay's
      // kernel fast path (kernel-forward-plan.ts) cannot set the "from relay" flag (nft fixes checksums for
      // header fields, not for payload bytes), so WireGuard from the relay address we bound for that VNI
      // counts as relayed without it. Loops stay impossible: the kernel forwards only to a source bound by
      // the challenge, which receives at that address, and a relay port never completes a bind (the core
      // answers no challenge), so a kernel-forwarded packet never lands on a relay to be sent on again.
      const kind = proto === PROTOCOL_CODE.wireguard ? 'wireguard' : proto === PROTOCOL_CODE.disco ? 'disco' : undefined;
      const flagged = (packet[1]! & FLAG_FROM_RELAY) !== 0;
      const fromRelay = packet[1]! >> 4 === VERSION && packet[0] === MARK && (flagged || kind === 'wireguard');
      const hit = fromRelay ? core.peerFor((packet[4]! << 16) | (packet[5]! << 8) | packet[6]!, from) : undefined;
      if (!hit || !kind) {
        counters.dropped++;
        return true;
      }
      counters.received++;
      packetHandler(hit.peer, packet.subarray(HEADER_LEN), kind, hit.via);
      return true;
    },
    onPacket(handler) {
      packetHandler = handler;
    },
    onChange(handler) {
      changeHandler = handler;
    },
    status: () => core.status(),
    counters: () => ({ ...counters }),
    close() {
      closed = true;
      cancel?.();
      cancel = undefined;
      for (const s of core.status()) core.drop(s.peer);
    },
  };
}
