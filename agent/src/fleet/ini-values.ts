/**
 * The two lexical rules of Ansible's INI inventory plugin (lib/ansible/plugins/inventory/ini.py):
 * host lines are split like Python's `shlex.split(line, comments=True)` (POSIX mode), and every value,
 * inline or in a `[g:vars]` section, goes through `ast.literal_eval`, falling back to the raw string.
 * The inventory guide says `:vars` values stay strings, but the plugin's `_parse_variable_definition`
 * calls the same `_parse_value`: we follow the code, so `[g:vars] timeout=30` is the number 30.
 */

/** Python shlex.split(s, comments=True, posix=True): quotes, backslash escapes, `#` ends the line. */
export function shlexSplit(line: string): string[] {
  const out: string[] = [];
  let token = '';
  let inToken = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      if (inToken) out.push(token);
      token = '';
      inToken = false;
      i++;
    } else if (c === '#') {
      break;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error('no escaped character');
      token += line[i + 1];
      inToken = true;
      i += 2;
    } else if (c === "'" || c === '"') {
      const end = quotedEnd(line, i);
      token += unquoteShell(line.slice(i + 1, end), c);
      inToken = true;
      i = end + 1;
    } else {
      token += c;
      inToken = true;
      i++;
    }
  }
  if (inToken) out.push(token);
  return out;
}

function quotedEnd(line: string, start: number): number {
  const q = line[start]!;
  for (let i = start + 1; i < line.length; i++) {
    if (q === '"' && line[i] === '\\') i++;
    else if (line[i] === q) return i;
  }
  throw new Error('no closing quotation');
}

/** Inside double quotes POSIX shlex drops a backslash only before `"` or `\`. */
function unquoteShell(body: string, q: string): string {
  return q === "'" ? body : body.replace(/\\(["\\])/g, '$1');
}

export type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

class NotLiteral extends Error {}

/** ast.literal_eval, else the text itself (what Ansible stores when literal_eval raises). */
export function iniValue(text: string): PyValue {
  try {
    const p = new LiteralParser(text);
    const v = p.parseExpr();
    p.skipSpace();
    if (p.pos !== text.length) throw new NotLiteral();
    return v;
  } catch (e) {
    if (e instanceof NotLiteral) return text;
    throw e;
  }
}

const NUMBER = /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*(?:[eE][+-]?\d(?:_?\d)*)?\.?)/;

class LiteralParser {
  pos = 0;
  constructor(private readonly s: string) {}

  skipSpace(): void {
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '#') this.pos = this.s.length; // a Python comment ends the expression
      else break;
    }
  }

  parseExpr(): PyValue {
    this.skipSpace();
    const c = this.s[this.pos];
    if (c === undefined) throw new NotLiteral();
    if (c === '-' || c === '+') {
      this.pos++;
      this.skipSpace();
      const n = this.parseExpr();
      if (typeof n !== 'number') throw new NotLiteral();
      return c === '-' ? -n : n;
    }
    if (c === '"' || c === "'") return this.parseString();
    if (c === '[') return this.parseSeq('[', ']');
    if (c === '(') return this.parseSeq('(', ')');
    if (c === '{') return this.parseDict();
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.pos));
    if (word) {
      this.pos += word[0].length;
      if (word[0] === 'True') return true;
      if (word[0] === 'False') return false;
      if (word[0] === 'None') return null;
      throw new NotLiteral();
    }
    return this.parseNumber();
  }

  parseNumber(): number {
    const rest = this.s.slice(this.pos);
    const m = NUMBER.exec(rest);
    if (!m || m[0] === '' || m[0] === '.') throw new NotLiteral();
    const t = m[0].replace(/_/g, '');
    // Python 3 rejects leading zeros on decimal integers ("010" is a SyntaxError: kept as a string).
    if (/^0\d/.test(t) && /^\d+$/.test(t) && !/^0+$/.test(t)) throw new NotLiteral();
    if (/^[A-Za-z0-9_.]/.test(rest.slice(m[0].length))) throw new NotLiteral(); // e.g. 1.2.3, 1j, 10abc
    this.pos += m[0].length;
    if (/^0[xXoObB]/.test(t)) return Number(t.toLowerCase().replace(/^0o/, '0o'));
    return Number(t);
  }

  parseString(): string {
    let out = '';
    // Adjacent literals concatenate in Python ('a' 'b' == 'ab').
    do {
      const q = this.s[this.pos]!;
      this.pos++;
      for (;;) {
        const c = this.s[this.pos];
        if (c === undefined) throw new NotLiteral();
        this.pos++;
        if (c === q) break;
        if (c === '\\') out += this.escape();
        else out += c;
      }
      this.skipSpace();
    } while (this.s[this.pos] === '"' || this.s[this.pos] === "'");
    return out;
  }

  escape(): string {
    const c = this.s[this.pos++];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (c === undefined) throw new NotLiteral();
    if (c in simple) return simple[c]!;
    if (c === 'x' || c === 'u') {
      const len = c === 'x' ? 2 : 4;
      const hex = this.s.slice(this.pos, this.pos + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw new NotLiteral();
      this.pos += len;
      return String.fromCharCode(parseInt(hex, 16));
    }
    return '\\' + c; // Python keeps unknown escapes as written
  }

  parseSeq(open: string, close: string): PyValue {
    this.pos++;
    const out: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.s[this.pos] === close) break;
      out.push(this.parseExpr());
      this.skipSpace();
      if (this.s[this.pos] === ',') this.pos++;
      else if (this.s[this.pos] !== close) throw new NotLiteral();
    }
    this.pos++;
    // `(x)` without a comma is just x in Python, not a tuple.
    if (open === '(' && out.length === 1 && !/,\s*\)$/.test(this.s.slice(0, this.pos))) return out[0]!;
    return out;
  }

  parseDict(): { [k: string]: PyValue } {
    this.pos++;
    const out: { [k: string]: PyValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.s[this.pos] === '}') break;
      const k = this.parseExpr();
      this.skipSpace();
      if (this.s[this.pos] !== ':') throw new NotLiteral(); // a set literal: not a variable type we keep
      this.pos++;
      out[String(k)] = this.parseExpr();
      this.skipSpace();
      if (this.s[this.pos] === ',') this.pos++;
      else if (this.s[this.pos] !== '}') throw new NotLiteral();
    }
    this.pos++;
    return out;
  }
}
