/**
 * A tiny, tolerant XML reader for UPnP device descriptions and SOAP envelopes. Not a general parser:
 * no DTDs, no external entities (so no XXE), namespaces reduced to local names (routers disagree on
 * prefixes: `s:Envelope`, `SOAP-ENV:Envelope`, `u:...Response`), unknown markup skipped. Malformed input
 * yields a best-effort tree or a DecodeError, never another exception.
 * Deliberately not agent/src/xml: that reader is strict (a malformed config.xml must be refused with
 * its line number), while a router's reply must be read as far as it makes sense.
 */
import { DecodeError } from '../../errors.ts';

export interface XmlElement {
  /** Local name, namespace prefix removed, case kept. */
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (entities decoded, not trimmed). */
  text: string;
}

/** Documents larger than this are refused: a description is a few kB; a bigger one is an attack or a bug. */
export const MAX_XML_CHARS = 256 * 1024;
const MAX_DEPTH = 64;

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes the five predefined entities and numeric character references; unknown ones stay as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref] ?? whole;
  });
}

/** Escapes text for element content and attribute values (SOAP arguments come from config and peers). */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon >= 0 ? qname.slice(colon + 1) : qname;
}

function parseAttrs(s: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(s); m; m = re.exec(s)) attrs[localName(m[1]!)] = decodeEntities(m[3] ?? m[4] ?? '');
  return attrs;
}

/** Parses text into a root element. Unclosed elements are closed at end of input (routers truncate). */
export function parseXml(text: string): XmlElement {
  if (text.length > MAX_XML_CHARS) throw new DecodeError('xml document too large', { chars: text.length });
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const top = stack[stack.length - 1]!;
    if (lt < 0) {
      top.text += decodeEntities(text.slice(i));
      break;
    }
    if (lt > i) top.text += decodeEntities(text.slice(i, lt));
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      i = end < 0 ? text.length : end + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      top.text += text.slice(lt + 9, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end + 3;
    } else if (text[lt + 1] === '?' || text[lt + 1] === '!') {
      // Processing instructions and DOCTYPE: skipped, never interpreted.
      const end = text.indexOf('>', lt);
      i = end < 0 ? text.length : end + 1;
    } else {
      const end = text.indexOf('>', lt);
      if (end < 0) break;
      const body = text.slice(lt + 1, end);
      i = end + 1;
      if (body.startsWith('/')) {
        const name = localName(body.slice(1).trim());
        // Tolerate mismatched closers: pop to the nearest open element of that name, if any.
        for (let k = stack.length - 1; k > 0; k--) {
          if (stack[k]!.name === name) {
            stack.length = k;
            break;
          }
        }
        continue;
      }
      const selfClosing = body.endsWith('/');
      const inner = selfClosing ? body.slice(0, -1) : body;
      const nameEnd = inner.search(/[\s]/);
      const qname = nameEnd < 0 ? inner : inner.slice(0, nameEnd);
      if (qname === '') continue;
      const el: XmlElement = { name: localName(qname), attrs: nameEnd < 0 ? {} : parseAttrs(inner.slice(nameEnd)), children: [], text: '' };
      top.children.push(el);
      if (!selfClosing) {
        if (stack.length > MAX_DEPTH) throw new DecodeError('xml nested too deeply');
        stack.push(el);
      }
    }
  }
  return root;
}

/** First direct child with this local name (case-insensitive: routers vary the case of element names). */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  const lower = name.toLowerCase();
  return el?.children.find((c) => c.name.toLowerCase() === lower);
}

/** Trimmed text of the first direct child with this name, or undefined. */
export function childText(el: XmlElement | undefined, name: string): string | undefined {
  const c = child(el, name);
  return c === undefined ? undefined : c.text.trim();
}

/** Every descendant (depth first, document order) with this local name. */
export function descendants(el: XmlElement, name: string, out: XmlElement[] = []): XmlElement[] {
  const lower = name.toLowerCase();
  for (const c of el.children) {
    if (c.name.toLowerCase() === lower) out.push(c);
    descendants(c, name, out);
  }
  return out;
}
