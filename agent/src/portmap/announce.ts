/**
 * Listening for the gateway's unsolicited announcements: NAT-PMP public-address notices (RFC 6886
 * 3.2.1) and PCP ANNOUNCE responses (RFC 6887 14.1.3), both multicast to 224.0.0.1:5350 after a
 * reboot, a state loss or a WAN address change. They let the client re-map at once instead of at
 * the next renewal. Only datagrams from the gateway count (RFC 6886 3.2.1: others are spoofable).
 */
import { createSocket, type Socket } from 'node:dgram';
import { formatIp } from '../net/ip.ts';
import { decodePmpResponse, isPmpAnnouncement, PMP_ANNOUNCE_GROUP, PMP_CLIENT_PORT, PmpResult } from '../pmp/codec.ts';
import { decodePcpResponse, isPcp, PcpResult } from '../pcp/codec.ts';

export type Announcement = { via: 'natpmp'; epochSec: number; externalAddress: string } | { via: 'pcp'; epochSec: number };

/** Decodes one datagram on the announcement port; undefined for anything that is not a successful announcement. */
export function decodeAnnouncement(b: Uint8Array): Announcement | undefined {
  try {
    if (isPmpAnnouncement(b)) {
      const r = decodePmpResponse(b);
      if (r.kind === 'publicAddress' && r.result === PmpResult.SUCCESS) return { via: 'natpmp', epochSec: r.epochSec, externalAddress: formatIp(r.externalAddress) };
    } else if (isPcp(b)) {
      const r = decodePcpResponse(b);
      if (r.opcode === 'announce' && r.result === PcpResult.SUCCESS) return { via: 'pcp', epochSec: r.epochSec };
    }
  } catch {
    // junk on a well-known multicast port is normal; ignored
  }
  return undefined;
}

export interface AnnounceListenerOptions {
  /** Only datagrams from this address are accepted. */
  gateway: string;
  /** Default 5350; tests pass 0 and read port(). */
  port?: number;
  /** Multicast group to join (default 224.0.0.1); false for a unicast-only listener (tests on loopback). */
  group?: string | false;
  /** Our LAN-facing address: the interface to join the group on. */
  interfaceAddress?: string;
  onAnnouncement: (a: Announcement) => void;
  onError?: (err: Error) => void;
}

export interface AnnounceListener {
  port(): number;
  close(): void;
}

/** Binds with SO_REUSEADDR so a local NAT-PMP client or daemon on 5350 keeps working beside us. */
export function listenAnnouncements(opts: AnnounceListenerOptions): Promise<AnnounceListener> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createSocket({ type: 'udp4', reuseAddr: true });
    let bound = false;
    let closed = false;
    sock.on('error', (err) => {
      if (!bound) {
        sock.close();
        reject(err);
      } else opts.onError?.(err);
    });
    sock.on('message', (buf, rinfo) => {
      if (rinfo.address !== opts.gateway) return;
      const a = decodeAnnouncement(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      if (a) opts.onAnnouncement(a);
    });
    sock.bind(opts.port ?? PMP_CLIENT_PORT, () => {
      bound = true;
      const group = opts.group ?? PMP_ANNOUNCE_GROUP;
      if (group !== false) {
        try {
          sock.addMembership(group, opts.interfaceAddress);
        } catch (err) {
          sock.close();
          reject(err as Error);
          return;
        }
      }
      resolve({
        port: () => sock.address().port,
        close: () => {
          if (closed) return;
          closed = true;
          sock.close();
        },
      });
    });
  });
}
