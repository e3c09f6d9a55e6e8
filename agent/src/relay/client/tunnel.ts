/**
 * The edge shared by every HTTPS connection a node makes (the relay and the coordinator): a TCP
 * connection through an HTTP proxy's CONNECT tunnel (proxy.ts says which proxy and writes the request),
 * and reading an HTTP/1.x response head off a socket without losing the bytes after it.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { ConegateError, type DecodeError } from '../../errors.ts';
import { parseResponseHead, type ResponseHead } from './http-head.ts';
import { connectRefusal, connectRequest, type ProxyTarget } from './proxy.ts';

/** Reads an HTTP response head, then pauses the socket so no byte after it is lost before the next reader. */
export function readHead(sock: Socket, signal: AbortSignal, who: string): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buf = new Uint8Array(0);
    const done = (fn: () => void) => {
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onData = (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      try {
        const head = parseResponseHead(buf);
        if (!head) return;
        sock.pause();
        done(() => resolve({ ...head, rest: head.rest.slice() }));
      } catch (err) {
        done(() => reject(new ConegateError('CG_NETWORK', `${who} answered with something that is not HTTP (${(err as DecodeError).reason})`)));
      }
    };
    const onClose = () => done(() => reject(new ConegateError('CG_NETWORK', `${who} closed the connection before answering`)));
    const onError = (err: Error) => done(() => reject(new ConegateError('CG_NETWORK', `${who}: ${err.message}`, { cause: err })));
    const onAbort = () => done(() => reject(new ConegateError('CG_TIMEOUT', `${who} did not answer within the dial deadline`)));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.once('error', onError);
    sock.resume();
  });
}

export function connectThroughProxy(proxy: ProxyTarget, host: string, port: number, signal: AbortSignal): Promise<Socket> {
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: proxy.host, port: proxy.port });
    sock.setNoDelay(true);
    const fail = (err: ConegateError) => {
      sock.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(new ConegateError('CG_NETWORK', `cannot reach the HTTP proxy ${proxy.display}: ${err.message}`, { cause: err }));
    const onAbort = () => fail(new ConegateError('CG_TIMEOUT', `the HTTP proxy ${proxy.display} did not connect to ${target} within the dial deadline`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      sock.write(connectRequest(host, port, proxy.credentials));
      readHead(sock, signal, `the HTTP proxy ${proxy.display}`).then(
        (head) => {
          if (head.status < 200 || head.status > 299) return fail(connectRefusal(head.status, head.reason, proxy, target));
          // The tunnel carries TLS next; the proxy sends nothing of its own after its answer.
          if (head.rest.length) sock.unshift(Buffer.from(head.rest));
          resolve(sock);
        },
        (err: ConegateError) => fail(err),
      );
    });
  });
}
