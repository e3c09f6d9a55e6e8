/**
 * The coordinator's TLS identity. `--self-signed` makes a key and a certificate on first start and
 * reuses them after; nodes pin the certificate's SHA-256 (printed at start) instead of trusting a CA.
 *
 * Node can make keys (crypto.generateKeyPairSync) but not X.509 certificates, so the certificate is
 * made by the `openssl` binary (Debian package openssl; present on every appliance and server we target)
 * rather than by adding an ASN.1 library for one certificate. The private key is made by Node and written
 * 0600 from the first byte (openssl would create it under the process umask, readable for a moment).
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConegateError } from '../../errors.ts';
import { isIp } from '../../net/ip.ts';
import { normalizeFingerprint } from '../tls-pin.ts';

const run = promisify(execFile);

export interface TlsIdentity {
  key: string;
  cert: string;
  /** SHA-256 of the certificate (DER), lowercase hex without separators: what nodes pin. */
  fingerprint: string;
}

export const SELF_SIGNED_KEY = 'coord-tls.key';
export const SELF_SIGNED_CERT = 'coord-tls.crt';

export function fingerprintOf(certPem: string): string {
  return normalizeFingerprint(new X509Certificate(certPem).fingerprint256)!;
}

export async function loadTls(certFile: string, keyFile: string): Promise<TlsIdentity> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read the TLS certificate or key (${certFile}, ${keyFile})`, { cause });
  }
  try {
    return { cert, key, fingerprint: fingerprintOf(cert) };
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_INVALID', `${certFile} is not a PEM certificate`, { cause });
  }
}

/**
 * The self-signed identity in `dir`, made on first use. `names` (IPs or DNS names) go into subjectAltName.
 * `as` names the files and the certificate's CN for other servers (the relay) that reuse this.
 */
export async function selfSignedTls(dir: string, names: string[], as: { base: string; cn: string } = { base: 'coord-tls', cn: 'conegate-coordinator' }): Promise<TlsIdentity> {
  const keyFile = join(dir, `${as.base}.key`);
  const certFile = join(dir, `${as.base}.crt`);
  try {
    return await loadTls(certFile, keyFile);
  } catch (err) {
    if (!(err instanceof ConegateError) || err.code !== 'CG_CONFIG_UNREADABLE') throw err;
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await rm(keyFile, { force: true });
  await writeFile(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
  const san = ['localhost', ...names].map((n) => (isIp(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  try {
    await run('openssl', ['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '3650', '-subj', `/CN=${as.cn}`, '-addext', `subjectAltName=${san}`], { timeout: 30_000 });
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConegateError(missing ? 'CG_PEER_MISSING' : 'CG_COMMAND_FAILED', missing ? 'openssl is needed to make a self-signed certificate: install the Debian package openssl (or pass --tls-cert and --tls-key)' : 'openssl could not make the self-signed certificate', { cause });
  }
  return loadTls(certFile, keyFile);
}
