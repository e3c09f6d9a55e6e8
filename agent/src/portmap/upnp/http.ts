/**
 * The one HTTP exchange UPnP needs: GET a description, POST a SOAP action. node:http with a hard
 * timeout on the whole exchange and a size cap on the body, since the peer is an arbitrary LAN device.
 */
import { request } from 'node:http';
import { ConegateError } from '../../errors.ts';
import { realClock, type Clock } from '../../clock/clock.ts';

export interface HttpExchange {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Bodies above this are refused (default 64 KiB). */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Arms the deadline (default: the real clock). */
  clock?: Clock;
}

export interface HttpReply {
  status: number;
  body: string;
  /** Our address on the connection: the InternalClient for a mapping. */
  localAddress: string;
}

export function httpExchange(x: HttpExchange): Promise<HttpReply> {
  const maxBytes = x.maxBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: ConegateError): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      x.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      reject(err);
    };
    const headers: Record<string, string> = { Connection: 'close', ...x.headers };
    if (x.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(x.body));
    const req = request(x.url, { method: x.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) fail(new ConegateError('CG_NETWORK', `HTTP reply from ${x.url} exceeds ${maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on('error', (err) => fail(new ConegateError('CG_NETWORK', `HTTP ${x.method} ${x.url}: ${err.message}`, { cause: err })));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        cancelTimer();
        x.signal?.removeEventListener('abort', onAbort);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), localAddress: req.socket?.localAddress ?? '' });
      });
    });
    // One deadline for connect + send + receive: a router that accepts and never answers must not hang us.
    const cancelTimer = (x.clock ?? realClock).setTimer(x.timeoutMs, () => fail(new ConegateError('CG_TIMEOUT', `HTTP ${x.method} ${x.url}: no reply in ${x.timeoutMs} ms`)));
    req.on('error', (err) => fail(new ConegateError('CG_NETWORK', `HTTP ${x.method} ${x.url}: ${err.message}`, { cause: err })));
    const onAbort = (): void => fail(new ConegateError('CG_TIMEOUT', `HTTP ${x.method} ${x.url}: aborted`));
    if (x.signal?.aborted) onAbort();
    else x.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(x.body);
  });
}
