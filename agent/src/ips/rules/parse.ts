/**
 * Suricata/Snort rule parser (pure). Reads whole rule files: comments, blank lines, rules continued
 * with a trailing backslash, and commented-out rules (`# alert ...`, how oinkmaster, suricata-update,
 * OPNsense and the pfSense packages disable a rule) which come back with `enabled: false`.
 * A line that looks like a rule but cannot be parsed becomes a RuleParseError; the file goes on.
 */
import { DecodeError } from '../../errors.ts';
import { RULE_ACTIONS, type ContentOption, type ListItem, type Rule, type RuleAction, type RuleOption, type RuleParseError, type Spec } from './types.ts';

/** Content modifiers that move a content match to an app-layer buffer (Snort 2 / Suricata legacy form). */
const BUFFER_MODIFIERS = new Set([
  'http_uri', 'http_raw_uri', 'http_header', 'http_raw_header', 'http_cookie', 'http_method', 'http_client_body',
  'http_server_body', 'http_stat_code', 'http_stat_msg', 'http_user_agent', 'http_host', 'http_raw_host', 'file_data',
]);

/** Sticky buffers (Suricata 5+ form): every content after one applies to that buffer. */
export function isStickyBuffer(name: string): boolean {
  return /^(http|http2|tls|dns|ja3|ja3s|ja4|ssh|smb|krb5|sip|quic|mqtt|snmp|file|dnp3|dcerpc|rfb|ike|smtp|ftp|email|enip|cip|modbus|tcp|udp|ldap|websocket|pgsql)\./.test(name)
    || name === 'tls_sni' || name === 'file_data' || name === 'dce_stub_data' || name === 'base64_data' || name === 'pkt_data';
}

/** Splits the option block at ';' outside quotes, honouring backslash escapes. */
function splitOptions(body: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\' && i + 1 < body.length) {
      cur += ch + body[i + 1]!;
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      cur += ch;
    } else if (ch === ';' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new DecodeError('unterminated quoted string in options');
  if (cur.trim() !== '') throw new DecodeError('last option is not terminated by ";"');
  return out.filter((o) => o !== '');
}

/** Decodes a content string: `|hex bytes|` blocks, `\"`, `\;`, `\\` escapes, everything else as bytes. */
export function decodeContent(raw: string): Uint8Array {
  let s = raw.trim();
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new DecodeError('content: unbalanced quotes');
    s = s.slice(1, -1);
  }
  const bytes: number[] = [];
  let hex = false;
  let hexDigits = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '|') {
      if (hex && hexDigits.length > 0) throw new DecodeError('content: odd number of hex digits');
      hex = !hex;
      continue;
    }
    if (hex) {
      if (ch === ' ') continue;
      if (!/[0-9a-fA-F]/.test(ch)) throw new DecodeError(`content: bad hex digit "${ch}"`);
      hexDigits += ch;
      if (hexDigits.length === 2) {
        bytes.push(Number.parseInt(hexDigits, 16));
        hexDigits = '';
      }
      continue;
    }
    if (ch === '\\') {
      const next = s[++i];
      if (next === undefined) throw new DecodeError('content: trailing backslash');
      bytes.push(next.charCodeAt(0));
      continue;
    }
    const code = ch.charCodeAt(0);
    if (code > 0xff) for (const b of new TextEncoder().encode(ch)) bytes.push(b);
    else bytes.push(code);
  }
  if (hex) throw new DecodeError('content: unterminated |hex| block');
  if (bytes.length === 0) throw new DecodeError('content: empty pattern');
  return Uint8Array.from(bytes);
}

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

function intOpt(name: string, v: string | undefined): number {
  if (v === undefined || !/^-?\d+$/.test(v.trim())) throw new DecodeError(`${name}: expected an integer, got "${v ?? ''}"`);
  return Number.parseInt(v, 10);
}

/** Parses an address or port field: any, literal, $VAR, range, !negation, [nested, lists]. */
export function parseSpec(text: string): Spec {
  const t = text.trim();
  if (t === 'any') return { any: true };
  return { any: false, items: parseItems(t) };
}

function parseItems(t: string): ListItem[] {
  const items: ListItem[] = [];
  for (const part of splitTopLevel(t)) {
    let p = part.trim();
    let negated = false;
    while (p.startsWith('!')) {
      negated = !negated;
      p = p.slice(1).trim();
    }
    if (p === '') throw new DecodeError(`empty element in "${t}"`);
    if (p.startsWith('[')) {
      if (!p.endsWith(']')) throw new DecodeError(`unbalanced brackets in "${t}"`);
      items.push({ negated, value: parseItems(p.slice(1, -1)) });
    } else items.push({ negated, value: p });
  }
  return items;
}

/** Splits "a,[b,c],d" at top-level commas; a whole-field "[...]" is unwrapped first. */
function splitTopLevel(t: string): string[] {
  let s = t;
  if (s.startsWith('[') && matchingBracket(s, 0) === s.length - 1) s = s.slice(1, -1);
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0) throw new DecodeError(`unbalanced brackets in "${t}"`);
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new DecodeError(`unbalanced brackets in "${t}"`);
  parts.push(cur);
  return parts;
}

function matchingBracket(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '[') depth++;
    if (s[i] === ']' && --depth === 0) return i;
  }
  return -1;
}

/** Splits the header into its seven fields; list fields may contain spaces inside brackets. */
function headerFields(header: string): string[] {
  const fields: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of header) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (/\s/.test(ch) && depth === 0) {
      if (cur !== '') fields.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') fields.push(cur);
  return fields;
}

function parseOptions(body: string): { options: RuleOption[]; meta: Pick<Rule, 'sid' | 'gid' | 'rev' | 'msg' | 'classtype' | 'metadata'> } {
  const options: RuleOption[] = [];
  const meta: Pick<Rule, 'sid' | 'gid' | 'rev' | 'msg' | 'classtype' | 'metadata'> = { sid: undefined, gid: 1, rev: undefined, msg: undefined, classtype: undefined, metadata: {} };
  let buffer = 'pkt_data';
  let last: ContentOption | undefined;
  for (const opt of splitOptions(body)) {
    const colon = opt.indexOf(':');
    const name = (colon < 0 ? opt : opt.slice(0, colon)).trim().toLowerCase();
    const value = colon < 0 ? undefined : opt.slice(colon + 1).trim();
    if (!/^[a-z0-9_.\-]+$/.test(name)) throw new DecodeError(`bad option name "${name}"`);
    switch (name) {
      case 'msg': meta.msg = unquote(value ?? ''); break;
      case 'sid': meta.sid = intOpt(name, value); break;
      case 'gid': meta.gid = intOpt(name, value); break;
      case 'rev': meta.rev = intOpt(name, value); break;
      case 'classtype': meta.classtype = value; break;
      case 'metadata':
        for (const pair of (value ?? '').split(',')) {
          const [k, ...rest] = pair.trim().split(/\s+/);
          if (!k) continue;
          (meta.metadata[k] ??= []).push(rest.join(' '));
        }
        break;
      case 'content': {
        const v = value ?? '';
        const negated = v.startsWith('!');
        last = { kind: 'content', pattern: decodeContent(negated ? v.slice(1) : v), negated, nocase: false, startsWith: false, endsWith: false, buffer };
        options.push(last);
        continue;
      }
      case 'nocase': case 'offset': case 'depth': case 'distance': case 'within': case 'startswith': case 'endswith': {
        if (!last) throw new DecodeError(`${name} without a preceding content`);
        if (name === 'nocase') last.nocase = true;
        else if (name === 'startswith') last.startsWith = true;
        else if (name === 'endswith') last.endsWith = true;
        else if (value !== undefined && !/^-?\d+$/.test(value)) {
          // A byte_extract variable as offset/depth: keep it as an option the matcher cannot evaluate.
          options.push({ kind: 'option', name: `${name}-variable`, value });
        } else last[name] = intOpt(name, value);
        continue;
      }
      default:
        if (BUFFER_MODIFIERS.has(name) && last) {
          last.buffer = name;
          continue;
        }
        if (isStickyBuffer(name)) buffer = name;
    }
    options.push({ kind: 'option', name, value });
  }
  return { options, meta };
}

/** Parses one rule line (without a leading '#'). Throws DecodeError with a short reason. */
export function parseRule(text: string, where: { file?: string; line?: number; enabled?: boolean } = {}): Rule {
  const t = text.trim();
  const first = /^\S*/.exec(t)![0];
  if (!(RULE_ACTIONS as readonly string[]).includes(first)) throw new DecodeError(`unknown action "${first.slice(0, 20)}"`);
  const open = t.indexOf('(');
  if (open < 0 || !t.endsWith(')')) throw new DecodeError('rule has no "( options )" block');
  const fields = headerFields(t.slice(0, open));
  if (fields.length !== 7) throw new DecodeError(`header has ${fields.length} fields, expected 7 (action proto src sport -> dst dport)`);
  const [action, protocol, src, sport, dir, dst, dport] = fields as [string, string, string, string, string, string, string];
  if (!(RULE_ACTIONS as readonly string[]).includes(action)) throw new DecodeError(`unknown action "${action}"`);
  if (dir !== '->' && dir !== '<>') throw new DecodeError(`bad direction "${dir}"`);
  const { options, meta } = parseOptions(t.slice(open + 1, -1));
  const rule: Rule = {
    enabled: where.enabled ?? true,
    action: action as RuleAction,
    protocol: protocol.toLowerCase(),
    src: parseSpec(src),
    srcPorts: parseSpec(sport),
    bidirectional: dir === '<>',
    dst: parseSpec(dst),
    dstPorts: parseSpec(dport),
    options,
    ...meta,
    text: t,
    line: where.line ?? 1,
  };
  if (where.file !== undefined) rule.file = where.file;
  return rule;
}

const COMMENTED_RULE = new RegExp(`^#+\\s*(${RULE_ACTIONS.join('|')})\\s+\\S+\\s+\\S`);

/** Parses a whole rules file; unparsable rule lines become errors and the rest is still read. */
export function parseRuleFile(text: string, file?: string): { rules: Rule[]; errors: RuleParseError[] } {
  const rules: Rule[] = [];
  const errors: RuleParseError[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let line = lines[i]!;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.replace(/^#\s*/, '');
    const trimmed = line.trim();
    if (trimmed === '') continue;
    let enabled = true;
    let body = trimmed;
    if (trimmed.startsWith('#')) {
      // Only a commented line that reads like a rule header is a disabled rule; the rest is prose.
      if (!COMMENTED_RULE.test(trimmed) || !trimmed.includes('(')) continue;
      enabled = false;
      body = trimmed.replace(/^#+\s*/, '');
    }
    try {
      rules.push(parseRule(body, { ...(file === undefined ? {} : { file }), line: startLine, enabled }));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      // A commented line that fails to parse is most likely prose that starts with an action word.
      if (enabled) errors.push({ ...(file === undefined ? {} : { file }), line: startLine, message: e.reason });
    }
  }
  return { rules, errors };
}
