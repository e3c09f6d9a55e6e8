/**
 * The WireGuard cross-platform configuration protocol (wireguard.com/xplatform), as spoken by `wg` over
 * /var/run/wireguard/<if>.sock. Pure: text in, values out, no sockets.
 *
 *   request  = "get=1\n\n"  |  "set=1\n" *(key "=" value "\n") "\n"
 *   reply    = *(key "=" value "\n") "errno=" N "\n\n"      (N = 0 on success, a positive errno otherwise)
 *
 * Keys are 64 lowercase hex digits. Device keys (private_key, listen_port, fwmark, replace_peers) come
 * first; each `public_key=` opens a peer section whose keys follow it (remove, update_only,
 * preshared_key, endpoint, persistent_keepalive_interval, replace_allowed_ips, allowed_ip,
 * protocol_version). A whole `set` is parsed before anything is applied, so a bad line changes nothing
 * (wireguard-go applies lines as it reads them; all-or-nothing is stricter and never worse for `wg`).
 */
import { parseCidr, parseIp } from '../../net/ip.ts';

/** errno values carried in replies (Linux numbering, as wireguard-go and wg use them everywhere). */
export const UAPI_ERRNO = {
  OK: 0,
  EPERM: 1,
  EIO: 5,
  EINVAL: 22,
  EPROTO: 71,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
} as const;

/** A set request failed to parse or apply: `errno` goes on the wire, `message` into the log. */
export class UapiError extends Error {
  override readonly name = 'UapiError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

export interface UapiEndpoint {
  address: string;
  port: number;
}

/** One peer section of a set request. */
export interface UapiPeerSet {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  /** All-zero clears the preshared key. */
  presharedKey?: Uint8Array;
  endpoint?: UapiEndpoint;
  persistentKeepaliveSec?: number;
  replaceAllowedIps: boolean;
  allowedIps: string[];
}

export interface UapiSet {
  /** All-zero removes the private key. */
  privateKey?: Uint8Array;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: UapiPeerSet[];
}

export interface UapiPeerGet {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: UapiEndpoint;
  lastHandshakeWallMs: number;
  txBytes: number;
  rxBytes: number;
  persistentKeepaliveSec: number;
  allowedIps: string[];
}

export interface UapiGet {
  privateKey?: Uint8Array;
  listenPort: number;
  fwmark: number;
  peers: UapiPeerGet[];
}

const HEX_KEY = /^[0-9a-f]{64}$/;

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

function hexKey(value: string, what: string): Uint8Array {
  // wg always sends lowercase; accept uppercase too, it is unambiguous.
  const v = value.toLowerCase();
  if (!HEX_KEY.test(v)) throw new UapiError(UAPI_ERRNO.EINVAL, `${what}: not a 32-byte hex key`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function uint(value: string, max: number, what: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > max) throw new UapiError(UAPI_ERRNO.EINVAL, `${what}: not an integer 0..${max}`);
  return Number(value);
}

function flag(value: string, what: string): boolean {
  // wg sends only "true"; wireguard-go accepts only "true" too.
  if (value !== 'true') throw new UapiError(UAPI_ERRNO.EINVAL, `${what}: only "true" is accepted`);
  return true;
}

/** Parses `a.b.c.d:port` or `[v6]:port` (a zone suffix is not accepted). */
export function parseUapiEndpoint(value: string): UapiEndpoint {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || !parseIp(host) || !(port >= 1 && port <= 65535)) throw new UapiError(UAPI_ERRNO.EINVAL, `endpoint: ${JSON.stringify(value)} is not ip:port`);
  return { address: host, port };
}

export function formatUapiEndpoint(e: UapiEndpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * Parses the body of a set request (the lines after `set=1`, without the closing blank line).
 * Throws UapiError with errno EINVAL for an unknown key or a bad value, EPROTO for a bad line.
 */
export function parseSet(lines: string[]): UapiSet {
  const out: UapiSet = { replacePeers: false, peers: [] };
  let peer: UapiPeerSet | undefined;
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new UapiError(UAPI_ERRNO.EPROTO, `line without key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      peer = { publicKey: hexKey(value, key), remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [] };
      out.peers.push(peer);
      continue;
    }
    if (!peer) {
      switch (key) {
        case 'private_key':
          out.privateKey = hexKey(value, key);
          continue;
        case 'listen_port':
          out.listenPort = uint(value, 65535, key);
          continue;
        case 'fwmark':
          // An empty value means "off" (wg sends fwmark=0 or nothing; some clients send an empty value).
          out.fwmark = value === '' ? 0 : uint(value, 0xffffffff, key);
          continue;
        case 'replace_peers':
          out.replacePeers = flag(value, key);
          continue;
        default:
          throw new UapiError(UAPI_ERRNO.EINVAL, `unknown device key ${JSON.stringify(key.slice(0, 40))}`);
      }
    }
    switch (key) {
      case 'remove':
        peer.remove = flag(value, key);
        break;
      case 'update_only':
        peer.updateOnly = flag(value, key);
        break;
      case 'preshared_key':
        peer.presharedKey = hexKey(value, key);
        break;
      case 'endpoint':
        peer.endpoint = parseUapiEndpoint(value);
        break;
      case 'persistent_keepalive_interval':
        peer.persistentKeepaliveSec = uint(value, 65535, key);
        break;
      case 'replace_allowed_ips':
        peer.replaceAllowedIps = flag(value, key);
        break;
      case 'allowed_ip':
        if (!parseCidr(value, { loose: true }) || !value.includes('/')) throw new UapiError(UAPI_ERRNO.EINVAL, `allowed_ip: ${JSON.stringify(value.slice(0, 60))} is not a prefix`);
        peer.allowedIps.push(value);
        break;
      case 'protocol_version':
        if (value !== '1') throw new UapiError(UAPI_ERRNO.EINVAL, `protocol_version ${JSON.stringify(value.slice(0, 10))} not supported`);
        break;
      default:
        throw new UapiError(UAPI_ERRNO.EINVAL, `unknown peer key ${JSON.stringify(key.slice(0, 40))}`);
    }
  }
  return out;
}

/** Serialises a get reply, `errno=0` and the closing blank line included (field order as wireguard-go). */
export function encodeGet(g: UapiGet): string {
  const lines: string[] = [];
  if (g.privateKey && g.privateKey.some((b) => b !== 0)) lines.push(`private_key=${keyToHex(g.privateKey)}`);
  lines.push(`listen_port=${g.listenPort}`);
  if (g.fwmark) lines.push(`fwmark=${g.fwmark}`);
  for (const p of g.peers) {
    lines.push(`public_key=${keyToHex(p.publicKey)}`);
    lines.push(`preshared_key=${keyToHex(p.presharedKey ?? new Uint8Array(32))}`);
    lines.push('protocol_version=1');
    if (p.endpoint) lines.push(`endpoint=${formatUapiEndpoint(p.endpoint)}`);
    const ms = Math.max(0, Math.floor(p.lastHandshakeWallMs));
    lines.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    lines.push(`last_handshake_time_nsec=${(ms % 1000) * 1_000_000}`);
    lines.push(`tx_bytes=${p.txBytes}`);
    lines.push(`rx_bytes=${p.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${p.persistentKeepaliveSec}`);
    for (const ip of p.allowedIps) lines.push(`allowed_ip=${ip}`);
  }
  lines.push('errno=0', '', '');
  return lines.join('\n');
}

/** The reply closing a set request, or any failed request. */
export function encodeErrno(errno: number): string {
  return `errno=${errno}\n\n`;
}
