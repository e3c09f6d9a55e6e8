/**
 * The TLS connection to the coordinator, verified before a single byte of a request is written:
 * - `ca`: the chain must verify against that CA (and the name/IP in the URL must match), as usual;
 * - `fingerprint`: the certificate's SHA-256 must equal the pin. Chain checks are off only in this
 *   mode, and only because the pin is checked right after the handshake, before the socket is
 *   handed to HTTP (so no request, and no signature, ever goes to an unpinned peer);
 * - neither: the system's CAs.
 * There is no "insecure" mode.
 */
import { connect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConegateError, type CgCode } from '../errors.ts';

export interface TlsTrust {
  /** PEM text of the CA. */
  ca?: string;
  /** SHA-256 of the server certificate's DER, hex (colons and case ignored). */
  fingerprint?: string;
}

export function normalizeFingerprint(text: string): string {
  return text.replace(/:/g, '').toLowerCase();
}

/** Who is on the other end, for the messages; the defaults are the coordinator's. */
export interface TlsPeerNaming {
  /** "the coordinator", "the relay at https://..." */
  peer: string;
  /** Code for "certificate not trusted / pin mismatch". */
  refusedCode: CgCode;
  /** What to do about an untrusted certificate. */
  hint: string;
  /** Run TLS over this already connected stream (an HTTP proxy's CONNECT tunnel) instead of dialing host:port. */
  socket?: Duplex;
}

const COORDINATOR: TlsPeerNaming = { peer: 'the coordinator', refusedCode: 'CG_COORD_REFUSED', hint: 'give --ca FILE or --coordinator-fingerprint SHA256' };

export function connectVerified(host: string, port: number, trust: TlsTrust, signal?: AbortSignal, timeoutMs = 10_000, naming: TlsPeerNaming = COORDINATOR): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const pin = trust.fingerprint ? normalizeFingerprint(trust.fingerprint) : undefined;
    const { peer, refusedCode, hint } = naming;
    const sock = connect({
      ...(naming.socket ? { socket: naming.socket } : { host, port }),
      ...(isIP(host) ? {} : { servername: host }),
      ALPNProtocols: ['http/1.1'],
      ...(pin ? { rejectUnauthorized: false } : trust.ca ? { ca: trust.ca } : {}),
    });
    const fail = (err: ConegateError) => {
      cleanup();
      sock.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new ConegateError('CG_TIMEOUT', `TLS connection to ${host}:${port} timed out`)), timeoutMs);
    const onAbort = () => fail(new ConegateError('CG_NETWORK', 'aborted'));
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.removeListener('error', onError);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      // OpenSSL's verification failures (DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID, ...)
      // are a refusal to trust the peer, not a network problem: say so, so nobody retries into it.
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(err.code ?? '')) {
        return fail(new ConegateError(refusedCode, `${peer}'s certificate is not trusted (${err.code}): ${hint}`, { cause: err, context: { coordCode: 'untrusted-certificate' } }));
      }
      fail(new ConegateError('CG_NETWORK', `cannot reach ${peer} at ${host}:${port}: ${err.message}`, { cause: err }));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', onError);
    sock.once('secureConnect', () => {
      if (pin) {
        const got = normalizeFingerprint(sock.getPeerCertificate().fingerprint256 ?? '');
        if (got !== pin) return fail(new ConegateError(refusedCode, `${peer}'s certificate fingerprint ${got} is not the pinned ${pin}: refusing to talk to it`, { context: { coordCode: 'fingerprint-mismatch' } }));
      } else if (!sock.authorized) {
        return fail(new ConegateError(refusedCode, `${peer}'s certificate is not trusted: ${String(sock.authorizationError)}`, { context: { coordCode: 'untrusted-certificate' } }));
      }
      cleanup();
      resolve(sock);
    });
  });
}
