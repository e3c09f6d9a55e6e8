/**
 * The head of an HTTP/1.1 response (status line and headers), as a proxy's CONNECT answer, the relay's
 * 101 Switching Protocols or its refusal arrive. Pure; throws only DecodeError. Bytes after the blank
 * line belong to the next protocol (relay frames, WebSocket frames, TLS) and are handed back as `rest`.
 */
import { DecodeError } from '../../errors.ts';

/** A head longer than this is not an answer we are waiting for (proxies send a few hundred bytes). */
export const MAX_HEAD_BYTES = 16 * 1024;

export interface ResponseHead {
  status: number;
  reason: string;
  /** Header names lowercased; repeated headers joined with ", " (RFC 9110 section 5.3). */
  headers: Map<string, string>;
  rest: Uint8Array;
}

function findBlankLine(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/** The parsed head, or undefined when more bytes are needed. */
export function parseResponseHead(buf: Uint8Array): ResponseHead | undefined {
  const end = findBlankLine(buf);
  if (end < 0) {
    if (buf.length > MAX_HEAD_BYTES) throw new DecodeError('HTTP response head too long');
    return undefined;
  }
  if (end > MAX_HEAD_BYTES) throw new DecodeError('HTTP response head too long');
  const lines = new TextDecoder('latin1').decode(buf.subarray(0, end)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new DecodeError('not an HTTP/1.1 status line');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new DecodeError('malformed HTTP header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, rest: buf.subarray(end + 4) };
}

/** Whether a comma-separated header value holds `token` (case-insensitive), e.g. Connection: keep-alive, Upgrade. */
export function headerHasToken(value: string | undefined, token: string): boolean {
  return (value ?? '').split(',').some((t) => t.trim().toLowerCase() === token.toLowerCase());
}
