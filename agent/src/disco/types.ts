/**
 * Discovery messages between nodes (mesh part 3), as plain values. The codec (agent/src/disco/codec.ts)
 * seals them in a NaCl box between the two nodes' discovery keys behind the demux magic "CGDSC"\x01
 * (agent/src/mesh/demux.ts); they travel directly on the mesh socket (or an extra birthday socket) and
 * through relays. Byte layouts are in docs/mesh-paths.md.
 */
import type { Endpoint } from '../wg/ports.ts';

export type DiscoMessage =
  /** Probe a candidate path. `txId` is 12 random bytes; `nodeKey` is the sender's WireGuard key (hex),
   * so the receiver can tie the source address to a peer; `padTo` pads the sealed message (MTU probes). */
  | { type: 'ping'; txId: Uint8Array; nodeKey: string; padTo?: number }
  /** Answer to a ping, sent back to exactly the address the ping came from; `src` is that address as seen
   * by the answering node (how a node learns its own mapped address towards this peer). */
  | { type: 'pong'; txId: Uint8Array; src: Endpoint }
  /** "Ping me back now", sent through the relay: the sender's candidates (replacing any earlier list) and
   * whether its NAT maps per destination (`hardNat`), so the receiver can decide on a birthday attempt. */
  | { type: 'call-me-maybe'; endpoints: Endpoint[]; hardNat: boolean }
  /** Starts the peer's half of a birthday attempt at once (sent through the relay by the side that decided):
   * the hard side opens `sockets` extra sockets sending to `easy`; the easy side sends up to `probes`
   * pings to random ports of `hardAddress` at `ratePerSec`. `attempt` ties pongs to the attempt.
   * Answers from the hard side reuse it: 0 sockets = "busy, retry after `deadlineMs`" (0 ms: "free now");
   * sockets > 0 with 0 probes = "ready": its sockets have pinged `easy`, probing may start. */
  | { type: 'birthday'; attempt: number; hardAddress: string; easy: Endpoint; sockets: number; probes: number; ratePerSec: number; deadlineMs: number };

export type DiscoType = DiscoMessage['type'];
