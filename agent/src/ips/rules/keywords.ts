/**
 * Evaluation of the non-content keywords we can judge exactly: dsize, flow, isdataat and the basic
 * forms of byte_test. Any form outside what is written here (variables, dce, unknown flags) gives
 * 'unknown'.
 */
import type { Packet, Tri } from './packet.ts';

/** Position after the previous payload match, for `relative` keywords. */
export interface PayloadCursor {
  prevEnd: number;
}

type Verdict = { verdict: Tri; why: string };
const yes: Verdict = { verdict: 'match', why: '' };

/** dsize: N, =N, !N, <N, >N, <=N, >=N, A<>B (exclusive bounds, as Suricata documents). */
export function evalDsize(value: string | undefined, size: number): Verdict {
  const v = (value ?? '').replace(/\s+/g, '');
  let m = /^(\d+)<>(\d+)$/.exec(v);
  if (m) return size > Number(m[1]) && size < Number(m[2]) ? yes : { verdict: 'no-match', why: `dsize ${size} not in ${v}` };
  m = /^(<=|>=|<|>|=|!)?(\d+)$/.exec(v);
  if (!m) return { verdict: 'unknown', why: `dsize:${value ?? ''} not evaluated` };
  const n = Number(m[2]);
  const ok = compare(m[1] ?? '=', size, n);
  return ok ? yes : { verdict: 'no-match', why: `dsize ${size} fails ${v}` };
}

function compare(op: string, a: number, b: number): boolean {
  switch (op) {
    case '<': return a < b;
    case '>': return a > b;
    case '<=': return a <= b;
    case '>=': return a >= b;
    case '!': return a !== b;
    default: return a === b;
  }
}

/** flow: direction and state keywords; stream/frag qualifiers are judged for UDP only. */
export function evalFlow(value: string | undefined, pkt: Packet): Verdict {
  for (const raw of (value ?? '').split(',')) {
    const k = raw.trim();
    let ok: boolean | undefined;
    switch (k) {
      case 'to_server': case 'from_client': ok = pkt.toServer; break;
      case 'to_client': case 'from_server': ok = !pkt.toServer; break;
      case 'established': ok = pkt.established; break;
      case 'not_established': ok = !pkt.established; break;
      case 'stateless': ok = true; break;
      case 'no_frag': ok = true; break;
      case 'only_frag': ok = false; break;
      case 'no_stream': ok = pkt.transport === 'udp' ? true : undefined; break;
      case 'only_stream': ok = pkt.transport === 'udp' ? false : undefined; break;
      default: ok = undefined;
    }
    if (ok === undefined) return { verdict: 'unknown', why: `flow:${k} not evaluated` };
    if (!ok) return { verdict: 'no-match', why: `flow:${k} does not hold` };
  }
  return yes;
}

/** isdataat:[!]N[,relative]: is there a byte at that position? */
export function evalIsdataat(value: string | undefined, cur: PayloadCursor, buf: Uint8Array): Tri {
  const m = /^(!)?\s*(\d+)\s*(?:,\s*(relative|rawbytes)\s*)*$/.exec((value ?? '').trim());
  if (!m) return 'unknown';
  const relative = /relative/.test(value ?? '');
  // Suricata: relative means "N more bytes after the previous match" (end <= length), absolute
  // means "a byte at index N".
  const n = Number(m[2]);
  const has = relative ? cur.prevEnd + n <= buf.length : n < buf.length;
  return has !== (m[1] === '!') ? 'match' : 'no-match';
}

/**
 * byte_test: count, [!]op, value, offset [, relative] [, big|little] [, string, hex|dec|oct] [, bitmask X].
 * Numeric value and offset only (byte_extract variables give 'unknown').
 */
export function evalByteTest(value: string | undefined, cur: PayloadCursor, buf: Uint8Array): Tri {
  const parts = (value ?? '').split(',').map((p) => p.trim());
  if (parts.length < 4) return 'unknown';
  const [countS, opS, valS, offS, ...flags] = parts as [string, string, string, string, ...string[]];
  if (!/^\d+$/.test(countS) || !/^-?\d+$/.test(offS)) return 'unknown';
  const target = parseNumber(valS);
  if (target === undefined) return 'unknown';
  const count = Number(countS);
  let negate = false;
  let op = opS;
  if (op.startsWith('!')) {
    negate = true;
    op = op.slice(1) || '=';
  }
  let little = false;
  let base: number | undefined;
  let bitmask: bigint | undefined;
  let relative = false;
  for (const f of flags) {
    if (f === 'relative') relative = true;
    else if (f === 'big') little = false;
    else if (f === 'little') little = true;
    else if (f === 'string') base ??= 10;
    else if (f === 'dec') base = 10;
    else if (f === 'hex') base = 16;
    else if (f === 'oct') base = 8;
    else if (f.startsWith('bitmask')) {
      const bm = parseNumber(f.slice(7).trim());
      if (bm === undefined) return 'unknown';
      bitmask = bm;
    } else return 'unknown';
  }
  if (base === undefined && (count < 1 || count > 8)) return 'unknown';
  const start = (relative ? cur.prevEnd : 0) + Number(offS);
  if (start < 0 || start + count > buf.length) return 'no-match';
  const bytes = buf.subarray(start, start + count);
  let n: bigint;
  if (base !== undefined) {
    const text = String.fromCharCode(...bytes);
    const digits = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
    if (!digits.test(text)) return 'no-match';
    n = BigInt(Number.parseInt(text, base));
  } else {
    n = 0n;
    const ordered = little ? Array.from(bytes).reverse() : Array.from(bytes);
    for (const b of ordered) n = (n << 8n) | BigInt(b);
  }
  if (bitmask !== undefined) {
    n &= bitmask;
    // Suricata shifts the masked value right by the mask's trailing zero bits.
    let shift = bitmask;
    while (shift > 0n && (shift & 1n) === 0n) {
      n >>= 1n;
      shift >>= 1n;
    }
  }
  let ok: boolean;
  switch (op) {
    case '<': ok = n < target; break;
    case '>': ok = n > target; break;
    case '<=': ok = n <= target; break;
    case '>=': ok = n >= target; break;
    case '=': ok = n === target; break;
    case '&': ok = (n & target) !== 0n; break;
    case '^': ok = (n ^ target) !== 0n; break;
    default: return 'unknown';
  }
  return ok !== negate ? 'match' : 'no-match';
}

function parseNumber(s: string): bigint | undefined {
  if (/^0x[0-9a-fA-F]+$/.test(s)) return BigInt(s);
  if (/^\d+$/.test(s)) return BigInt(s);
  return undefined;
}
