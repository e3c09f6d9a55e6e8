/**
 * Host key trust, pure: OpenSSH known_hosts parsing and the verify decision for one presented key.
 * ssh2 accepts any host key unless its hostVerifier says otherwise, so every connection goes through
 * decideHostKey(). Format as in sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": optional marker, host
 * patterns (comma list; `*` `?` wildcards, `!` negation, `[host]:port` for a non-22 port, hashed
 * `|1|salt|hmac-sha1`), key type, base64 key, comment.
 */
import { createHash, createHmac } from 'node:crypto';
import { ConegateError } from '../errors.ts';

export interface KnownHostLine {
  marker?: '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  /** The raw key blob (SSH wire form, RFC 4253 6.6). */
  key: Buffer;
  lineNo: number;
}

/** The name a host is filed under: `host` on port 22, else `[host]:port` (ssh(1) does the same). */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** Parses a known_hosts file; malformed lines are skipped, as ssh(1) skips them. */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = line.split(/\s+/);
    let marker: KnownHostLine['marker'];
    if (f[0] === '@revoked' || f[0] === '@cert-authority') marker = f.shift() as KnownHostLine['marker'];
    else if (f[0]!.startsWith('@')) return;
    if (f.length < 3) return;
    const key = Buffer.from(f[2]!, 'base64');
    if (!key.length || blobKeyType(key) !== f[1]) return;
    out.push({ ...(marker ? { marker } : {}), patterns: f[0]!.split(','), keyType: f[1]!, key, lineNo: i + 1 });
  });
  return out;
}

/** The key type named inside a key blob (its first SSH string), or '' when the blob is malformed. */
export function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  if (n > 64 || blob.length < 4 + n) return '';
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** OpenSSH's fingerprint form: "SHA256:" + unpadded base64 of sha256(blob). */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parses "type base64 [comment]" (a .pub file or a pinned inventory key). */
export function parsePublicKey(text: string): { keyType: string; key: Buffer } {
  const f = text.trim().split(/\s+/);
  const key = Buffer.from(f[1] ?? '', 'base64');
  if (f.length < 2 || blobKeyType(key) !== f[0]) {
    throw new ConegateError('CG_CONFIG_INVALID', 'pinned host key is not an OpenSSH public key ("type base64")');
  }
  return { keyType: f[0]!, key };
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hashedMatch(pattern: string, name: string): boolean {
  const parts = pattern.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  return createHmac('sha1', salt).update(name).digest().equals(want);
}

/** Whether a line's pattern list matches the name; a matching negated pattern vetoes the line. */
export function linePatternsMatch(patterns: string[], name: string): boolean {
  let hit = false;
  for (const p of patterns) {
    if (p.startsWith('|')) {
      if (hashedMatch(p, name)) hit = true;
    } else if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; keyType: string; source: 'pinned' | 'known_hosts' | 'new' }
  | { ok: false; code: 'CG_HOST_KEY_CHANGED' | 'CG_HOST_KEY_UNKNOWN' | 'CG_HOST_KEY_REVOKED'; message: string; fingerprint: string; expected: string[] };

export interface TrustInput {
  name: string;
  lines: KnownHostLine[];
  pinned?: { keyType: string; key: Buffer };
  acceptNew: boolean;
}

/**
 * The decision for one presented key. Stricter than ssh(1) in one way: a known host that presents a
 * key of another type is refused as changed (the connector asks for the known types first, as ssh(1)
 * orders HostKeyAlgorithms, so an honest server presents a known type).
 */
export function decideHostKey(presented: Buffer, t: TrustInput): HostKeyVerdict {
  const fp = fingerprint(presented);
  const keyType = blobKeyType(presented);
  const mine = t.lines.filter((l) => l.marker !== '@cert-authority' && linePatternsMatch(l.patterns, t.name));
  // @revoked applies to a key wherever it appears, whatever the host patterns (sshd(8)).
  if (t.lines.some((l) => l.marker === '@revoked' && l.key.equals(presented))) {
    return { ok: false, code: 'CG_HOST_KEY_REVOKED', message: `host key for ${t.name} is marked @revoked in known_hosts: ${fp}`, fingerprint: fp, expected: [] };
  }
  const trusted = t.pinned ? [t.pinned] : mine.filter((l) => !l.marker);
  if (trusted.some((k) => k.key.equals(presented))) {
    return { ok: true, fingerprint: fp, keyType, source: t.pinned ? 'pinned' : 'known_hosts' };
  }
  if (trusted.length) {
    const expected = trusted.map((k) => `${k.keyType} ${fingerprint(k.key)}`);
    return {
      ok: false,
      code: 'CG_HOST_KEY_CHANGED',
      message: `HOST KEY CHANGED for ${t.name}: presented ${keyType} ${fp}, expected ${expected.join(' or ')}; refusing (someone may be intercepting, or the host was reinstalled: fix the known_hosts entry or the pinned key)`,
      fingerprint: fp,
      expected,
    };
  }
  if (t.acceptNew) return { ok: true, fingerprint: fp, keyType, source: 'new' };
  return { ok: false, code: 'CG_HOST_KEY_UNKNOWN', message: `host key for ${t.name} is not known (${keyType} ${fp}); refusing without --accept-new`, fingerprint: fp, expected: [] };
}

/** Key types known for a name, in file order: the connector asks the server for these first. */
export function knownKeyTypes(lines: KnownHostLine[], name: string): string[] {
  const types = lines.filter((l) => !l.marker && linePatternsMatch(l.patterns, name)).map((l) => l.keyType);
  return [...new Set(types)];
}

/** ssh2 host key algorithm names for a key type (an RSA key can sign with either SHA-2 variant). */
export function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/** One known_hosts line for a newly accepted key (plain name; ssh-keygen -H can hash it later). */
export function formatKnownHostsLine(name: string, presented: Buffer): string {
  return `${name} ${blobKeyType(presented)} ${presented.toString('base64')}\n`;
}
