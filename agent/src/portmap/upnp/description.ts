/**
 * Device description (UPnP IGD v1/v2) to the one service we need: the WAN connection's controlURL.
 * Tolerant on purpose: routers nest devices differently, omit URLBase, put whitespace inside URLs and
 * vary element case, so every <service> anywhere in the document is considered.
 */
import { DecodeError } from '../../errors.ts';
import { childText, descendants, parseXml } from './xml.ts';

/** Service types that can map ports, best first: v2 has AddAnyPortMapping; PPP is for PPPoE modems. */
export const WAN_SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const;

export type WanServiceType = (typeof WAN_SERVICE_TYPES)[number];

export interface WanService {
  serviceType: WanServiceType;
  /** Absolute control URL for SOAP requests. */
  controlUrl: string;
  /** IGD version of the service (2 offers AddAnyPortMapping). */
  version: 1 | 2;
  /** friendlyName / modelName of the root device, for reports. */
  friendlyName?: string;
  modelName?: string;
}

/** Parses a description document fetched from descriptionUrl; throws DecodeError if no WAN service is in it. */
export function parseDescription(xml: string, descriptionUrl: string): WanService {
  const doc = parseXml(xml);
  const root = descendants(doc, 'root')[0] ?? doc;
  const base = childText(root, 'URLBase') || descriptionUrl;
  const candidates = descendants(doc, 'service')
    .map((s) => ({ type: childText(s, 'serviceType') ?? '', control: (childText(s, 'controlURL') ?? '').replace(/\s+/g, '') }))
    .filter((s) => s.control !== '');
  for (const wanted of WAN_SERVICE_TYPES) {
    const hit = candidates.find((c) => c.type === wanted);
    if (!hit) continue;
    let controlUrl: string;
    try {
      controlUrl = new URL(hit.control, new URL(base, descriptionUrl)).toString();
    } catch {
      throw new DecodeError('bad controlURL in device description', { controlURL: hit.control });
    }
    if (!controlUrl.startsWith('http://')) throw new DecodeError('controlURL is not http', { controlUrl });
    const device = descendants(doc, 'device')[0];
    const out: WanService = { serviceType: wanted, controlUrl, version: wanted.endsWith(':2') ? 2 : 1 };
    const friendlyName = childText(device, 'friendlyName');
    const modelName = childText(device, 'modelName');
    if (friendlyName) out.friendlyName = friendlyName;
    if (modelName) out.modelName = modelName;
    return out;
  }
  throw new DecodeError('no WANIPConnection or WANPPPConnection service in device description');
}
