/**
 * A small, strict XML reader for appliance configuration files (OPNsense and pfSense `config.xml`).
 * Those files are plain element trees: no DTDs, no namespaces that matter, text in leaf elements,
 * repeated elements for lists. We read elements, attributes, text, CDATA and the five predefined
 * entities plus numeric character references; comments and processing instructions are skipped.
 * A DOCTYPE is refused (no entity expansion, so no "billion laughs"). Malformed input throws
 * DecodeError with the line number, never anything else.
 */
import { DecodeError } from '../errors.ts';

/** One element: its name, attributes, child elements in document order, and its own text (trimmed). */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (CDATA included), trimmed. */
  text: string;
}

const NAME = /[A-Za-z_:][A-Za-z0-9_.:-]*/y;
const MAX_DEPTH = 256;

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class Reader {
  pos = 0;
  constructor(readonly src: string) {}

  fail(reason: string): never {
    const line = this.src.slice(0, this.pos).split('\n').length;
    throw new DecodeError(`xml: ${reason} (line ${line})`, { line });
  }

  startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  skipUntil(end: string, what: string): string {
    const i = this.src.indexOf(end, this.pos);
    if (i < 0) this.fail(`unterminated ${what}`);
    const body = this.src.slice(this.pos, i);
    this.pos = i + end.length;
    return body;
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  /** Skips comments, processing instructions and whitespace between elements. */
  skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (this.startsWith('<!--')) {
        this.pos += 4;
        this.skipUntil('-->', 'comment');
      } else if (this.startsWith('<?')) {
        this.pos += 2;
        this.skipUntil('?>', 'processing instruction');
      } else if (this.startsWith('<!DOCTYPE') || this.startsWith('<!doctype')) {
        this.fail('DOCTYPE is not accepted');
      } else return;
    }
  }
}

/** Replaces entity and character references; unknown entities are an error (no DTD can define them). */
function decodeEntities(r: Reader, raw: string): string {
  return raw.replace(/&([^;&\s]{0,10});/g, (_, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isInteger(code) || code < 1 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) r.fail(`bad character reference &${ref};`);
      return String.fromCodePoint(code);
    }
    const v = ENTITIES[ref];
    if (v === undefined) r.fail(`unknown entity &${ref};`);
    return v;
  });
}

function readAttrs(r: Reader): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (;;) {
    r.skipSpace();
    const c = r.src[r.pos];
    if (c === '>' || c === '/' || c === undefined) return attrs;
    const key = r.name();
    r.skipSpace();
    if (r.src[r.pos] !== '=') r.fail(`attribute ${key} without a value`);
    r.pos++;
    r.skipSpace();
    const q = r.src[r.pos];
    if (q !== '"' && q !== "'") r.fail(`attribute ${key} value not quoted`);
    r.pos++;
    const raw = r.skipUntil(q, 'attribute value');
    if (raw.includes('<')) r.fail(`"<" in attribute ${key}`);
    if (key in attrs) r.fail(`attribute ${key} given twice`);
    attrs[key] = decodeEntities(r, raw);
  }
}

function readElement(r: Reader, depth: number): XmlElement {
  if (depth > MAX_DEPTH) r.fail('elements nested too deeply');
  if (r.src[r.pos] !== '<') r.fail('expected an element');
  r.pos++;
  const name = r.name();
  const attrs = readAttrs(r);
  if (r.startsWith('/>')) {
    r.pos += 2;
    return { name, attrs, children: [], text: '' };
  }
  if (r.src[r.pos] !== '>') r.fail(`malformed start tag <${name}>`);
  r.pos++;
  const children: XmlElement[] = [];
  let text = '';
  for (;;) {
    if (r.pos >= r.src.length) r.fail(`<${name}> is not closed`);
    if (r.startsWith('</')) {
      r.pos += 2;
      const end = r.name();
      if (end !== name) r.fail(`</${end}> closes <${name}>`);
      r.skipSpace();
      if (r.src[r.pos] !== '>') r.fail(`malformed end tag </${end}>`);
      r.pos++;
      return { name, attrs, children, text: text.trim() };
    }
    if (r.startsWith('<![CDATA[')) {
      r.pos += 9;
      text += r.skipUntil(']]>', 'CDATA section');
    } else if (r.startsWith('<!--')) {
      r.pos += 4;
      r.skipUntil('-->', 'comment');
    } else if (r.startsWith('<?')) {
      r.pos += 2;
      r.skipUntil('?>', 'processing instruction');
    } else if (r.src[r.pos] === '<') {
      children.push(readElement(r, depth + 1));
    } else {
      const next = r.src.indexOf('<', r.pos);
      const raw = r.src.slice(r.pos, next < 0 ? r.src.length : next);
      r.pos += raw.length;
      text += decodeEntities(r, raw);
    }
  }
}

/** Parses an XML document and returns its root element. */
export function parseXml(source: string): XmlElement {
  const r = new Reader(source.replace(/^\uFEFF/, ''));
  r.skipMisc();
  if (r.pos >= r.src.length) r.fail('empty document');
  const root = readElement(r, 0);
  r.skipMisc();
  if (r.pos < r.src.length) r.fail('content after the root element');
  return root;
}

/** The first child element with this name. */
export function childOf(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** Every child element with this name (how config.xml writes lists). */
export function childrenOf(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Walks a slash-separated path of first children: at(root, 'nat/outbound/mode'). */
export function at(el: XmlElement | undefined, path: string): XmlElement | undefined {
  let cur = el;
  for (const part of path.split('/')) {
    if (!part) continue;
    cur = childOf(cur, part);
    if (!cur) return undefined;
  }
  return cur;
}

/** Text of the element at path, or undefined if the element is absent. */
export function textAt(el: XmlElement | undefined, path: string): string | undefined {
  return at(el, path)?.text;
}

/** True if the element at path exists (config.xml flags like `<disabled/>` are presence-only). */
export function has(el: XmlElement | undefined, path: string): boolean {
  return at(el, path) !== undefined;
}
