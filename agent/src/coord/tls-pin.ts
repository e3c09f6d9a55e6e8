/**
 * Certificate pinning for coordinator clients (the node, the bench, tests): connect, finish the TLS
 * handshake, compare the server certificate's SHA-256 with the pinned one, and only then hand the
 * socket to HTTP, so not one request byte reaches a server with the wrong certificate.
 *
 * Why not checkServerIdentity: Node calls it only after the chain verified, and a self-signed
 * coordinator certificate never verifies against the CA store; with rejectUnauthorized:false a request
 * written early could leave before a 'secureConnect' listener runs. Connecting first avoids both.
 */
import { connect, type TLSSocket } from 'node:tls';
import { ConegateError } from '../errors.ts';

/** "AB:CD:..." or "abcd..." or "sha256:abcd..." to 64 lowercase hex digits; undefined if not a SHA-256. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/^sha256[:=]/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export interface PinnedTarget {
  host: string;
  port: number;
  /** SHA-256 of the server certificate, any form normalizeFingerprint accepts. */
  fingerprint: string;
  timeoutMs?: number;
}

/** A TLS socket to host:port whose certificate has the pinned SHA-256; CG_NETWORK otherwise. */
export function connectPinned(target: PinnedTarget): Promise<TLSSocket> {
  const want = normalizeFingerprint(target.fingerprint);
  if (!want) return Promise.reject(new ConegateError('CG_USAGE', `"${target.fingerprint}" is not a SHA-256 fingerprint (64 hex digits, colons allowed)`));
  return new Promise((resolve, reject) => {
    // Chain verification is replaced by the pin (the certificate is self-signed); nothing is written before the check.
    const socket = connect({ host: target.host, port: target.port, rejectUnauthorized: false, servername: isIpLiteral(target.host) ? undefined : target.host, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => fail(new ConegateError('CG_TIMEOUT', `TLS handshake with ${target.host}:${target.port} timed out`)), target.timeoutMs ?? 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err instanceof ConegateError ? err : new ConegateError('CG_NETWORK', `cannot reach the coordinator at ${target.host}:${target.port}: ${err.message}`, { cause: err }));
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      const got = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
      if (got !== want) return fail(new ConegateError('CG_NETWORK', `the coordinator's certificate (sha256 ${got}) does not match the pinned fingerprint ${want}`));
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

function isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
