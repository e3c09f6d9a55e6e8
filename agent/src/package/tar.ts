/**
 * A minimal tar writer (POSIX ustar, with a pax extended header for names ustar cannot hold), enough
 * for FreeBSD pkg archives and the UniFi tarball: regular files, directories and symlinks, owner
 * root:wheel (0:0), a fixed mtime so the same input gives the same bytes. No I/O here.
 *
 * Header layout (512 bytes, POSIX.1-1988 ustar): name 0..100, mode 100..108, uid 108..116,
 * gid 116..124, size 124..136, mtime 136..148, checksum 148..156, typeflag 156, linkname 157..257,
 * "ustar\0" 257..263, version "00" 263..265, uname 265..297, gname 297..329, devmajor/minor
 * 329..345, prefix 345..500. Numbers are octal text, NUL-terminated.
 */
import { ConegateError } from '../errors.ts';

export interface TarEntry {
  /** Path inside the archive; pkg archives use absolute paths ("/usr/local/..."), tarballs relative ones. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: Uint8Array;
  /** Symlink target. */
  target?: string;
}

const BLOCK = 512;
const enc = new TextEncoder();

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function put(buf: Uint8Array, offset: number, width: number, text: string): void {
  const bytes = enc.encode(text);
  if (bytes.length > width) throw new ConegateError('CG_INPUT_INVALID', `tar: "${text}" does not fit in ${width} bytes`);
  buf.set(bytes, offset);
}

/** Splits a path into ustar prefix (<= 155 bytes) and name (<= 100 bytes) at a '/', or null. */
function splitUstar(path: string): { prefix: string; name: string } | null {
  if (enc.encode(path).length <= 100) return { prefix: '', name: path };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100 && name.length > 0) return { prefix, name };
  }
  return null;
}

function header(fields: { name: string; prefix: string; mode: number; size: number; mtimeSec: number; typeflag: string; linkname: string }): Uint8Array {
  const h = new Uint8Array(BLOCK);
  put(h, 0, 100, fields.name);
  put(h, 100, 8, octal(fields.mode & 0o7777, 8));
  put(h, 108, 8, octal(0, 8));
  put(h, 116, 8, octal(0, 8));
  put(h, 124, 12, octal(fields.size, 12));
  put(h, 136, 12, octal(fields.mtimeSec, 12));
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing (POSIX ustar)
  put(h, 156, 1, fields.typeflag);
  put(h, 157, 100, fields.linkname);
  put(h, 257, 6, 'ustar\0');
  put(h, 263, 2, '00');
  put(h, 265, 32, 'root');
  put(h, 297, 32, 'wheel');
  put(h, 345, 155, fields.prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = data.length % BLOCK;
  return rest === 0 ? [data] : [data, new Uint8Array(BLOCK - rest)];
}

/** A pax record "LEN key=value\n", where LEN counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length + 1;
  while (String(len).length + enc.encode(body).length !== len) len += 1;
  return `${len}${body}`;
}

/** The archive's bytes: every entry in the order given, then two zero blocks. */
export function tarArchive(entries: TarEntry[], mtimeSec: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? (e.data ?? new Uint8Array(0)) : new Uint8Array(0);
    const typeflag = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    const path = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const linkname = e.target ?? '';
    let split = splitUstar(path);
    if (split === null || enc.encode(linkname).length > 100) {
      const pax = enc.encode(paxRecord('path', path) + (linkname ? paxRecord('linkpath', linkname) : ''));
      parts.push(header({ name: 'PaxHeader', prefix: '', mode: 0o644, size: pax.length, mtimeSec, typeflag: 'x', linkname: '' }), ...padded(pax));
      split = { prefix: '', name: path.slice(-99).replace(/^\/+/, '') };
    }
    parts.push(header({ name: split.name, prefix: split.prefix, mode: e.mode, size: data.length, mtimeSec, typeflag, linkname: linkname.slice(0, 100) }));
    if (data.length > 0) parts.push(...padded(data));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
