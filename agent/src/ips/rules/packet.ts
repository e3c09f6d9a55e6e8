/**
 * The concrete packet a rule is judged against, seen from the LAN host (or the router itself, which
 * is inside $HOME_NET on both OPNsense and pfSense by default).
 */

/** The three answers of the matcher. 'unknown' means the rule uses something we cannot evaluate exactly. */
export type Tri = 'match' | 'no-match' | 'unknown';

export interface Endpoint {
  /** Which side of the router: inside $HOME_NET ('lan') or outside ('remote'). */
  side: 'lan' | 'remote';
  port: number;
  /** The address, when known; rules with literal addresses need it. */
  ip?: string;
}

export interface Packet {
  transport: 'udp' | 'tcp';
  src: Endpoint;
  dst: Endpoint;
  /** Transport payload (UDP data, or the TCP segment's data). */
  payload: Uint8Array;
  /** Suricata/Snort flow state: which way relative to the flow's initiator, and whether both sides have spoken. */
  toServer: boolean;
  established: boolean;
  /**
   * The application protocol Suricata's detection would assign, when we know it (we built the
   * packet): 'tls', 'stun', 'wireguard', 'natpmp', 'pcp'. Rules on another app-layer protocol, or on
   * its buffers (dns.query, http.uri...), then cannot match.
   */
  appProto?: string;
}
