/**
 * A small, strict XML reader for appliance config files (OPNsense/pfSense config.xml and the like).
 *
 * Supports elements, attributes (single or double quoted), text, CDATA, the five predefined entities
 * and numeric character references, comments, processing instructions and the XML declaration, and a
 * DOCTYPE without an internal subset. It rejects what a well-formed document may not contain
 * (mismatched or unclosed tags, duplicate attributes, unknown entities, text or a second element after
 * the root) with an XmlDecodeError naming the line and column, so a corrupt backup is reported, not
 * half-read. No namespaces processing (prefixes are kept in names), no DTD validation, no external
 * entities (so nothing in a file can make us read another file).
 */
import { DecodeError } from '../errors.ts';

/** One element: name, attributes, children in document order, and the line it starts on. */
export interface XmlElement {
  kind: 'element';
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  line: number;
}

/** Character data (text and CDATA are both decoded to plain text). */
export interface XmlText {
  kind: 'text';
  text: string;
}

export type XmlNode = XmlElement | XmlText;

/** Malformed XML: `line`/`column` are 1-based positions of the offending construct. */
export class XmlDecodeError extends DecodeError {
  readonly line: number;
  readonly column: number;
  constructor(reason: string, line: number, column: number) {
    super(reason, { line, column });
    this.line = line;
    this.column = column;
    this.message = `malformed XML at line ${line}, column ${column}: ${reason}`;
  }
}

const NAME_START = /[A-Za-z_:\u00C0-\uFFFF]/;
const NAME_RE = /[A-Za-z_:\u00C0-\uFFFF][A-Za-z0-9_:.\-\u00B7\u00C0-\uFFFF]*/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class Reader {
  pos = 0;
  constructor(readonly src: string) {}

  fail(reason: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.src.length; i++) {
      if (this.src.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new XmlDecodeError(reason, line, at - lineStart + 1);
  }

  // Element starts are asked for in increasing order, so counting newlines incrementally keeps
  // line tracking linear in the document size.
  private linePos = 0;
  private lineNo = 1;
  lineAt(at: number): number {
    if (at < this.linePos) {
      this.linePos = 0;
      this.lineNo = 1;
    }
    for (let i = this.linePos; i < at; i++) if (this.src.charCodeAt(i) === 10) this.lineNo++;
    this.linePos = at;
    return this.lineNo;
  }

  startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  name(what: string): string {
    NAME_RE.lastIndex = this.pos;
    const m = NAME_RE.exec(this.src);
    if (!m) this.fail(`expected ${what} name`);
    this.pos += m[0].length;
    return m[0];
  }

  /** Reads up to `end`, returning the text before it, and moves past `end`. */
  until(end: string, what: string): string {
    const i = this.src.indexOf(end, this.pos);
    if (i < 0) this.fail(`unterminated ${what}`);
    const out = this.src.slice(this.pos, i);
    this.pos = i + end.length;
    return out;
  }
}

function decodeEntities(r: Reader, raw: string, rawStart: number): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s<]*);?/g, (whole, body: string, offset: number) => {
    const at = rawStart + offset;
    if (!whole.endsWith(';')) r.fail('"&" not part of an entity reference (write &amp;)', at);
    let code: number | undefined;
    if (/^#[0-9]+$/.test(body)) code = Number.parseInt(body.slice(1), 10);
    else if (/^#x[0-9A-Fa-f]+$/.test(body)) code = Number.parseInt(body.slice(2), 16);
    else if (body in PREDEFINED) return PREDEFINED[body]!;
    else r.fail(`unknown entity &${body};`, at);
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) r.fail(`invalid character reference &${body};`, at);
    return String.fromCodePoint(code);
  });
}

/** Skips comments, processing instructions and whitespace between top-level constructs. */
function skipMisc(r: Reader, allowDoctype: boolean): void {
  for (;;) {
    r.skipSpace();
    if (r.startsWith('<!--')) {
      r.pos += 4;
      const body = r.until('-->', 'comment');
      if (body.includes('--')) r.fail('"--" inside a comment');
    } else if (r.startsWith('<?')) {
      r.pos += 2;
      r.until('?>', 'processing instruction');
    } else if (allowDoctype && r.startsWith('<!DOCTYPE')) {
      const start = r.pos;
      r.until('>', 'DOCTYPE');
      if (r.src.slice(start, r.pos).includes('[')) r.fail('DOCTYPE with an internal subset is not supported', start);
    } else return;
  }
}

function parseAttrs(r: Reader, elName: string): Record<string, string> {
  const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (;;) {
    const before = r.pos;
    r.skipSpace();
    if (r.startsWith('/>') || r.startsWith('>')) return attrs;
    if (r.pos === before) r.fail(`expected whitespace before attribute in <${elName}>`);
    if (!NAME_START.test(r.src[r.pos] ?? '')) r.fail(`unexpected character in <${elName}>`);
    const attrStart = r.pos;
    const name = r.name('attribute');
    r.skipSpace();
    if (r.src[r.pos] !== '=') r.fail(`attribute ${name} has no value`);
    r.pos++;
    r.skipSpace();
    const quote = r.src[r.pos];
    if (quote !== '"' && quote !== "'") r.fail(`attribute ${name} value must be quoted`);
    r.pos++;
    const valueStart = r.pos;
    const raw = r.until(quote, 'attribute value');
    if (raw.includes('<')) r.fail(`"<" in the value of attribute ${name}`, valueStart);
    if (name in attrs) r.fail(`duplicate attribute ${name}`, attrStart);
    attrs[name] = decodeEntities(r, raw, valueStart);
  }
}

function parseElement(r: Reader): XmlElement {
  const start = r.pos;
  r.pos++; // '<'
  const name = r.name('element');
  const el: XmlElement = { kind: 'element', name, attrs: parseAttrs(r, name), children: [], line: r.lineAt(start) };
  if (r.startsWith('/>')) {
    r.pos += 2;
    return el;
  }
  r.pos++; // '>'
  // Iterative over children so deep nesting cannot overflow the stack on hostile input.
  const stack: XmlElement[] = [el];
  while (stack.length > 0) {
    const cur = stack[stack.length - 1]!;
    if (r.pos >= r.src.length) r.fail(`unclosed element <${cur.name}> (opened at line ${cur.line})`);
    if (r.startsWith('</')) {
      const endAt = r.pos;
      r.pos += 2;
      const endName = r.name('end tag');
      r.skipSpace();
      if (r.src[r.pos] !== '>') r.fail(`malformed end tag </${endName}`);
      r.pos++;
      if (endName !== cur.name) r.fail(`end tag </${endName}> does not match <${cur.name}> (opened at line ${cur.line})`, endAt);
      stack.pop();
    } else if (r.startsWith('<!--')) {
      r.pos += 4;
      if (r.until('-->', 'comment').includes('--')) r.fail('"--" inside a comment');
    } else if (r.startsWith('<![CDATA[')) {
      r.pos += 9;
      pushText(cur, r.until(']]>', 'CDATA section'));
    } else if (r.startsWith('<?')) {
      r.pos += 2;
      r.until('?>', 'processing instruction');
    } else if (r.startsWith('<!')) {
      r.fail('unexpected markup declaration inside an element');
    } else if (r.src[r.pos] === '<') {
      const childStart = r.pos;
      r.pos++;
      if (!NAME_START.test(r.src[r.pos] ?? '')) r.fail('"<" not followed by a name (write &lt;)', childStart);
      r.pos = childStart;
      r.pos++;
      const childName = r.name('element');
      const child: XmlElement = { kind: 'element', name: childName, attrs: parseAttrs(r, childName), children: [], line: r.lineAt(childStart) };
      cur.children.push(child);
      if (r.startsWith('/>')) r.pos += 2;
      else {
        r.pos++;
        stack.push(child);
      }
    } else {
      const textStart = r.pos;
      const next = r.src.indexOf('<', r.pos);
      const raw = r.src.slice(r.pos, next < 0 ? r.src.length : next);
      if (raw.includes(']]>')) r.fail('"]]>" in text', textStart + raw.indexOf(']]>'));
      r.pos += raw.length;
      pushText(cur, decodeEntities(r, raw, textStart));
    }
  }
  return el;
}

function pushText(el: XmlElement, text: string): void {
  const last = el.children[el.children.length - 1];
  if (last?.kind === 'text') last.text += text;
  else if (text.length > 0) el.children.push({ kind: 'text', text });
}

/** Parses a whole document and returns its root element; throws XmlDecodeError on malformed input. */
export function parseXml(text: string): XmlElement {
  const r = new Reader(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (r.src.includes('\u0000')) r.fail('NUL byte in document', r.src.indexOf('\u0000'));
  skipMisc(r, true);
  if (r.pos >= r.src.length) r.fail('no root element');
  if (r.src[r.pos] !== '<') r.fail('text before the root element');
  const root = parseElement(r);
  skipMisc(r, false);
  if (r.pos < r.src.length) r.fail(r.src[r.pos] === '<' ? 'second root element' : 'text after the root element');
  return root;
}
