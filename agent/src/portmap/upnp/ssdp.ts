/**
 * SSDP (UPnP Device Architecture 1.1, section 1.3) search requests and responses, pure.
 *
 * Request (UDP to 239.255.255.250:1900, and unicast to the gateway, which miniupnpd also answers):
 *   M-SEARCH * HTTP/1.1 CRLF  HOST  MAN: "ssdp:discover"  MX  ST  CRLF CRLF
 * Response (unicast back to the sender's port), or NOTIFY (multicast, unsolicited):
 *   HTTP/1.1 200 OK | NOTIFY * HTTP/1.1, then headers: ST|NT, USN, LOCATION, BOOTID.UPNP.ORG, ...
 */
import { DecodeError } from '../../errors.ts';

export const SSDP_GROUP = '239.255.255.250';
export const SSDP_PORT = 1900;
/** IGD v1 and v2 root devices. A v2 device is bound to answer a v1 search too; some firmware does not. */
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
] as const;

/** The largest datagram we read as SSDP; real responses are 300-500 bytes. */
const MAX_SSDP_BYTES = 8192;

export interface SsdpMessage {
  kind: 'response' | 'notify' | 'search';
  /** Header names lowercased; the last occurrence wins. */
  headers: Record<string, string>;
  /** LOCATION: the device description URL. */
  location?: string;
  /** ST (response) or NT (notify). */
  target?: string;
  usn?: string;
  /** BOOTID.UPNP.ORG: increases each time the device reboots (UDA 1.1), our UPnP "epoch". */
  bootId?: number;
  /** NTS of a NOTIFY: ssdp:alive, ssdp:byebye, ssdp:update. */
  nts?: string;
}

/** M-SEARCH for one target; mx is the seconds a device may wait before answering (UDA: 1..5). */
export function encodeMSearch(target: string, mx = 1, host = `${SSDP_GROUP}:${SSDP_PORT}`): Uint8Array {
  const text =
    'M-SEARCH * HTTP/1.1\r\n' +
    `HOST: ${host}\r\n` +
    'MAN: "ssdp:discover"\r\n' +
    `MX: ${mx}\r\n` +
    `ST: ${target}\r\n` +
    '\r\n';
  return new TextEncoder().encode(text);
}

/** True if the bytes start like an SSDP message (a response, NOTIFY or M-SEARCH). */
export function isSsdp(b: Uint8Array): boolean {
  const head = new TextDecoder('latin1').decode(b.subarray(0, 16));
  return head.startsWith('HTTP/1.') || head.startsWith('NOTIFY * ') || head.startsWith('M-SEARCH * ');
}

export function decodeSsdp(b: Uint8Array): SsdpMessage {
  if (b.length > MAX_SSDP_BYTES) throw new DecodeError('ssdp message too large', { bytes: b.length });
  const text = new TextDecoder('latin1').decode(b);
  const lines = text.split(/\r?\n/);
  const start = lines[0] ?? '';
  let kind: SsdpMessage['kind'];
  if (/^HTTP\/1\.[01] 200\b/.test(start)) kind = 'response';
  else if (start.startsWith('NOTIFY * ')) kind = 'notify';
  else if (start.startsWith('M-SEARCH * ')) kind = 'search';
  else throw new DecodeError('not an ssdp message');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const msg: SsdpMessage = { kind, headers };
  if (headers.location) msg.location = headers.location;
  const target = kind === 'notify' ? headers.nt : headers.st;
  if (target) msg.target = target;
  if (headers.usn) msg.usn = headers.usn;
  if (headers.nts) msg.nts = headers.nts;
  const boot = headers['bootid.upnp.org'];
  if (boot !== undefined && /^\d{1,10}$/.test(boot)) msg.bootId = Number(boot);
  return msg;
}

/** The description URL from a response, accepted only if it is plain http on the host that answered. */
export function gatewayLocation(msg: SsdpMessage, fromAddress: string): URL | undefined {
  if (!msg.location) return undefined;
  let url: URL;
  try {
    url = new URL(msg.location);
  } catch {
    return undefined;
  }
  // A LAN host could answer for the gateway and point us anywhere; only the responder itself is trusted.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'http:' || host !== fromAddress) return undefined;
  return url;
}
