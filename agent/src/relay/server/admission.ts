/**
 * Who may use the relay. Fail closed: a key is admitted only when the source positively says so; when
 * the source cannot be asked (coordinator down, file unreadable) the login is refused.
 * - coordinatorAdmission: POST /v1/relay/admit on the coordinator (docs/mesh-protocol.md "Relay
 *   admission"), pinned or CA-verified TLS, the relay secret as a bearer token; answers are cached
 *   briefly so a reconnect storm is not a coordinator storm.
 * - fileAdmission: a file of node keys (64 hex chars a line, # comments), re-read on every question so
 *   removing a line disconnects that key at the next re-check.
 */
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import { LIMITS, type RelayAdmitResponse } from '../../coord/protocol.ts';
import { connectVerified, type TlsTrust } from '../../node/tls-connect.ts';

export interface Admission {
  /**
   * The subset of `keysHex` allowed now. `fresh` skips any cache (the periodic re-check that
   * disconnects revoked keys). Throws when it cannot tell; the caller then refuses.
   */
  admitted(keysHex: string[], opts?: { fresh?: boolean }): Promise<Set<string>>;
}

/** Admits exactly a fixed set (tests, and the building block of fileAdmission). */
export function staticAdmission(keys: Iterable<string>): Admission & { keys: Set<string> } {
  const set = new Set(keys);
  return { keys: set, admitted: async (ks) => new Set(ks.filter((k) => set.has(k))) };
}

/** Parses an allow file: one 64-hex-char key per line, blank lines and # comments ignored. */
export function parseAllowFile(text: string, file: string): Set<string> {
  const keys = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim().toLowerCase();
    if (line === '') return;
    if (!/^[0-9a-f]{64}$/.test(line)) throw new ConegateError('CG_CONFIG_INVALID', `${file} line ${i + 1}: expected a node key (64 hex characters)`);
    keys.add(line);
  });
  return keys;
}

export function fileAdmission(file: string): Admission {
  return {
    async admitted(ks) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (cause) {
        throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read the admission allow file ${file}`, { cause });
      }
      const allowed = parseAllowFile(text, file);
      return new Set(ks.filter((k) => allowed.has(k)));
    },
  };
}

export interface CoordinatorAdmissionOptions {
  url: string;
  trust: TlsTrust;
  secret: string;
  clock: Clock;
  /** How long an answer (yes or no) is reused for logins. */
  cacheMs?: number;
  timeoutMs?: number;
}

export function coordinatorAdmission(o: CoordinatorAdmissionOptions): Admission {
  const base = new URL(o.url);
  if (base.protocol !== 'https:') throw new ConegateError('CG_USAGE', `--coordinator ${o.url} is not an https URL`);
  const cache = new Map<string, { ok: boolean; atMs: number }>();
  const cacheMs = o.cacheMs ?? 5_000;
  const ask = async (keys: string[]): Promise<Set<string>> => {
    const host = base.hostname.replace(/^\[|\]$/g, '');
    const sock = await connectVerified(host, Number(base.port || 443), o.trust, undefined, o.timeoutMs ?? 5_000);
    const payload = JSON.stringify({ nodeKeys: keys });
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({
        method: 'POST',
        path: `${base.pathname.replace(/\/$/, '')}/v1/relay/admit`,
        host: base.host,
        createConnection: () => sock,
        timeout: o.timeoutMs ?? 5_000,
        headers: { authorization: `Bearer ${o.secret}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      });
      req.once('timeout', () => req.destroy(new Error('timed out')));
      req.once('error', (err) => reject(new ConegateError('CG_NETWORK', `relay admission request failed: ${err.message}`, { cause: err })));
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new ConegateError('CG_COORD_REFUSED', `the coordinator refused relay admission (HTTP ${res.statusCode}): check --coordinator-secret-file`));
          resolve(body);
        });
      });
      req.end(payload);
    });
    let parsed: RelayAdmitResponse;
    try {
      parsed = JSON.parse(text) as RelayAdmitResponse;
    } catch (cause) {
      throw new ConegateError('CG_NETWORK', 'relay admission answer is not JSON', { cause });
    }
    if (!Array.isArray(parsed.admitted)) throw new ConegateError('CG_NETWORK', 'relay admission answer has no admitted list');
    // Only keys we asked about count, whatever the answer lists.
    const asked = new Set(keys);
    return new Set(parsed.admitted.filter((k) => typeof k === 'string' && asked.has(k)));
  };
  return {
    async admitted(ks, opts = {}) {
      const now = o.clock.nowMs();
      const out = new Set<string>();
      const todo: string[] = [];
      for (const k of ks) {
        const c = opts.fresh ? undefined : cache.get(k);
        if (c && now - c.atMs < cacheMs) {
          if (c.ok) out.add(k);
        } else todo.push(k);
      }
      for (let i = 0; i < todo.length; i += LIMITS.maxAdmitKeys) {
        const chunk = todo.slice(i, i + LIMITS.maxAdmitKeys);
        const yes = await ask(chunk);
        for (const k of chunk) {
          cache.set(k, { ok: yes.has(k), atMs: o.clock.nowMs() });
          if (yes.has(k)) out.add(k);
        }
      }
      // Bounded: entries past their time are useless; drop them when the cache grows.
      if (cache.size > 100_000) for (const [k, c] of cache) if (o.clock.nowMs() - c.atMs >= cacheMs) cache.delete(k);
      return out;
    },
  };
}
