/**
 * SOAP 1.1 for UPnP control (UDA 1.1 section 3.2), pure. Every argument is XML-escaped: descriptions
 * and host names end up inside the envelope, and an unescaped `<` or `&` breaks the request or injects
 * elements (one of the reasons we do not use the nat-upnp package).
 */
import { DecodeError } from '../../errors.ts';
import { child, descendants, escapeXml, parseXml } from './xml.ts';

export interface SoapRequest {
  /** HTTP headers to send with the POST (besides Host and Content-Length). */
  headers: Record<string, string>;
  body: string;
}

/** Arguments in the order the service's SCPD lists them: some routers check the order. */
export type SoapArgs = [name: string, value: string | number][];

export function buildSoapRequest(serviceType: string, action: string, args: SoapArgs): SoapRequest {
  const argXml = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${argXml}</u:${action}></s:Body></s:Envelope>\r\n`;
  return {
    headers: {
      'Content-Type': 'text/xml; charset="utf-8"',
      SOAPAction: `"${serviceType}#${action}"`,
    },
    body,
  };
}

/** A successful action's output arguments, by name. */
export interface SoapResult {
  ok: true;
  values: Record<string, string>;
}

/** A UPnP error (the <UPnPError> inside a SOAP Fault), e.g. 718 ConflictInMappingEntry. */
export interface SoapFault {
  ok: false;
  errorCode: number;
  errorDescription: string;
}

/** UPnP IGD WANIPConnection error codes we act on (IGD v2 WANIPConnection:2 section 2.4). */
export const UPNP_ERROR = {
  INVALID_ACTION: 401,
  INVALID_ARGS: 402,
  ACTION_FAILED: 501,
  NOT_AUTHORIZED: 606,
  NO_SUCH_ENTRY: 714,
  CONFLICT_IN_MAPPING_ENTRY: 718,
  SAME_PORT_VALUES_REQUIRED: 724,
  ONLY_PERMANENT_LEASES_SUPPORTED: 725,
  REMOTE_HOST_ONLY_SUPPORTS_WILDCARD: 726,
  EXTERNAL_PORT_ONLY_SUPPORTS_WILDCARD: 727,
  NO_PORT_MAPS_AVAILABLE: 728,
  CONFLICT_WITH_OTHER_MECHANISMS: 729,
  WILDCARD_NOT_PERMITTED_IN_INTERNAL_PORT: 732,
} as const;

/** Parses a control response body for `action`: its output values, or the UPnP error of a fault. */
export function parseSoapResponse(xml: string, action: string): SoapResult | SoapFault {
  const doc = parseXml(xml);
  const body = descendants(doc, 'Body')[0];
  if (!body) throw new DecodeError('soap response has no Body');
  const fault = child(body, 'Fault');
  if (fault) {
    const err = descendants(fault, 'UPnPError')[0];
    const codeText = err ? child(err, 'errorCode')?.text.trim() : undefined;
    const code = codeText !== undefined && /^\d{1,4}$/.test(codeText) ? Number(codeText) : UPNP_ERROR.ACTION_FAILED;
    const desc = (err && child(err, 'errorDescription')?.text.trim()) || child(fault, 'faultstring')?.text.trim() || 'SOAP fault';
    return { ok: false, errorCode: code, errorDescription: desc };
  }
  const resp = child(body, `${action}Response`);
  if (!resp) throw new DecodeError('soap response lacks the action response element', { action });
  const values: Record<string, string> = {};
  for (const c of resp.children) values[c.name] = c.text.trim();
  return { ok: true, values };
}
