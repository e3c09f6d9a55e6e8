/**
 * The coordinator's HTTPS protocol (docs/mesh-protocol.md), node side: every request signed by the
 * machine key, sent over a connection verified by tls-connect.ts. Short requests return JSON; the map
 * stream yields NDJSON lines (each bounded by LIMITS.maxMessageBytes). Errors from the coordinator
 * become ConegateError CG_COORD_REFUSED with the protocol's code in `context.coordCode`.
 */
import { request, type IncomingMessage } from 'node:http';
import { ConegateError } from '../errors.ts';
import { LIMITS, type EndpointsRequest, type ErrorBody, type RegisterRequest, type RegisterResponse, type RouteHealthRequest, type RoutesRequest } from '../coord/protocol.ts';
import type { KeyPair } from './identity.ts';
import { authorization } from './request-sign.ts';
import { connectVerified, type TlsTrust } from './tls-connect.ts';

/** What the session needs from a coordinator; the HTTPS client implements it, tests may twin it. */
export interface CoordApi {
  register(req: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse>;
  /** Opens GET /v1/map; resolves once the server answered 200, then yields lines until the stream ends. */
  openMap(since: number | undefined, signal: AbortSignal): Promise<AsyncIterable<string>>;
  endpoints(req: EndpointsRequest, signal?: AbortSignal): Promise<void>;
  routes(req: RoutesRequest, signal?: AbortSignal): Promise<void>;
  routeHealth(req: RouteHealthRequest, signal?: AbortSignal): Promise<void>;
  logout(signal?: AbortSignal): Promise<void>;
}

export interface CoordClientOptions {
  url: string;
  trust: TlsTrust;
  machine: KeyPair;
  /** Wall clock for the signature time (the server compares it with its own). */
  wallClockMs?: () => number;
}

export function coordError(status: number, body: string): ConegateError {
  let code = 'internal';
  let message = `HTTP ${status}`;
  try {
    const e = (JSON.parse(body) as ErrorBody).error;
    if (typeof e?.code === 'string') code = e.code;
    if (typeof e?.message === 'string') message = e.message.slice(0, 300);
  } catch {
    // not our error body (a proxy page?): keep the status
  }
  return new ConegateError('CG_COORD_REFUSED', `coordinator refused: ${message} (${code})`, { context: { coordCode: code, status } });
}

async function readBody(res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) {
      res.destroy();
      throw new ConegateError('CG_NETWORK', 'coordinator answer too large');
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function* lines(res: IncomingMessage): AsyncIterable<string> {
  let buf = '';
  for await (const c of res as AsyncIterable<Buffer>) {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
    }
    if (buf.length > LIMITS.maxMessageBytes) {
      res.destroy();
      throw new ConegateError('CG_NETWORK', 'map stream line longer than the limit');
    }
  }
}

export class CoordClient implements CoordApi {
  private readonly base: URL;
  constructor(private readonly opts: CoordClientOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'https:') throw new ConegateError('CG_CONFIG_INVALID', `coordinator URL ${opts.url} is not https`);
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const pathWithQuery = this.base.pathname.replace(/\/$/, '') + path;
    const payload = body === undefined ? '' : JSON.stringify(body);
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.base.port || 443);
    const sock = await connectVerified(host, port, this.opts.trust, signal);
    const auth = authorization(this.opts.machine, method, pathWithQuery, payload, (this.opts.wallClockMs ?? Date.now)());
    return new Promise((resolve, reject) => {
      const req = request({
        method,
        path: pathWithQuery,
        host: this.base.host,
        createConnection: () => sock,
        headers: { authorization: auth, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        ...(signal ? { signal } : {}),
      });
      req.once('response', resolve);
      req.once('error', (err) => reject(new ConegateError('CG_NETWORK', `coordinator request ${method} ${path} failed: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  private async json<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.send(method, path, body, signal);
    const text = await readBody(res, 1024 * 1024);
    // Any 2xx is success: the coordinator answers 204 (no body) to endpoint and route updates.
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw coordError(status, text);
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch (cause) {
      throw new ConegateError('CG_NETWORK', `coordinator answer to ${path} is not JSON`, { cause });
    }
  }

  register(req: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse> {
    return this.json<RegisterResponse>('POST', '/v1/register', req, signal);
  }
  async endpoints(req: EndpointsRequest, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/endpoints', req, signal);
  }
  async routes(req: RoutesRequest, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/routes', req, signal);
  }
  async routeHealth(req: RouteHealthRequest, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/route-health', req, signal);
  }
  async logout(signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/logout', {}, signal);
  }
  async openMap(since: number | undefined, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const res = await this.send('GET', `/v1/map${since === undefined ? '' : `?since=${since}`}`, undefined, signal);
    if (res.statusCode !== 200) throw coordError(res.statusCode ?? 0, await readBody(res, 64 * 1024));
    return lines(res);
  }
}
