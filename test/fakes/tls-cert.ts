/** A throwaway self-signed certificate (openssl, P-256) for coordinator tests, with its SHA-256 fingerprint. */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface TestCert {
  cert: string;
  key: string;
  /** SHA-256 of the DER, lowercase hex without colons. */
  fingerprint: string;
}

export async function selfSignedCert(sans: string[] = ['IP:127.0.0.1', 'DNS:localhost']): Promise<TestCert> {
  const dir = await mkdtemp(join(tmpdir(), 'cg-cert-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=conegate-test-coordinator', '-addext', `subjectAltName=${sans.join(',')}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256.replace(/:/g, '').toLowerCase() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
