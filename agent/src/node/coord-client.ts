/**
 * The coordinator's HTTPS protocol (docs/mesh-protocol.md), node side: every request signed by the
 * machine key, sent over a connection verified by tls-connect.ts. Short requests return JSON; the map
 * stream yields NDJSON lines (each bounded by LIMITS.maxMessageBytes). Errors from the coordinator
 * become ConegateError CG_COORD_REFUSED with the protocol's code in `context.coordCode`.
 * Through an HTTP proxy when one applies (`mesh.proxy`, HTTPS_PROXY / https_proxy, NO_PROXY: the same
 * choice as the relay client's, relay/client/proxy.ts): CONNECT, then TLS verified inside the tunnel.
 */
import { request, type IncomingMessage } from 'node:http';
import { ConegateError } from '../errors.ts';
import { LIMITS, type EndpointsRequest, type ErrorBody, type RegisterRequest, type RegisterResponse, type RouteHealthRequest, type RoutesRequest } from '../coord/protocol.ts';
import type { KeyPair } from './identity.ts';
import type { MeshClock } from './mesh-clock.ts';
import { authorization } from './request-sign.ts';
import { connectVerified, type TlsTrust } from './tls-connect.ts';
import { resolveProxy, type ProxySources } from '../relay/client/proxy.ts';
import { connectThroughProxy } from '../relay/client/tunnel.ts';

/** The proxy CONNECT and TLS together (the TLS handshake alone has connectVerified's 10 s). */
const CONNECT_TIMEOUT_MS = 10_000;

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
  /**
   * The mesh clock: signs with the coordinator's time and learns it from each answer's Date header, so a
   * node whose own clock is wrong still registers (wins over wallClockMs).
   */
  clock?: MeshClock;
  /** Where the HTTP proxy comes from (config, environment); absent = always direct. */
  proxy?: ProxySources;
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

  private async connect(host: string, port: number, signal?: AbortSignal) {
    const proxy = this.opts.proxy ? resolveProxy(host, port, this.opts.proxy) : undefined;
    if (!proxy) return connectVerified(host, port, this.opts.trust, signal);
    const deadline = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
    const tunnel = await connectThroughProxy(proxy, host, port, signal ? AbortSignal.any([signal, deadline]) : deadline);
    try {
      return await connectVerified(host, port, this.opts.trust, signal, CONNECT_TIMEOUT_MS, { peer: 'the coordinator', refusedCode: 'CG_COORD_REFUSED', hint: 'give --ca FILE or --coordinator-fingerprint SHA256', socket: tunnel });
    } catch (err) {
      tunnel.destroy();
      throw err;
    }
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const pathWithQuery = this.base.pathname.replace(/\/$/, '') + path;
    const payload = body === undefined ? '' : JSON.stringify(body);
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.base.port || 443);
    const sock = await this.connect(host, port, signal);
    const clock = this.opts.clock;
    const sentMonoMs = clock?.monoMs() ?? 0;
    const auth = authorization(this.opts.machine, method, pathWithQuery, payload, clock ? clock.nowMs() : (this.opts.wallClockMs ?? Date.now)());
    return new Promise((resolve, reject) => {
      const req = request({
        method,
        path: pathWithQuery,
        host: this.base.host,
        createConnection: () => sock,
        headers: { authorization: auth, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        ...(signal ? { signal } : {}),
      });
      req.once('response', (res: IncomingMessage) => {
        clock?.observe(res.headers.date, sentMonoMs, clock.monoMs());
        resolve(res);
      });
      req.once('error', (err) => reject(new ConegateError('CG_NETWORK', `coordinator request ${method} ${path} failed: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  private async json<T>(method: string, path: string, body: unknown, signal?: AbortSignal, retried = false): Promise<T> {
    const correctionsBefore = this.opts.clock?.status().corrections;
    const res = await this.send(method, path, body, signal);
    const text = await readBody(res, 1024 * 1024);
    // Any 2xx is success: the coordinator answers 204 (no body) to endpoint and route updates.
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const err = coordError(status, text);
      // Refused for skew, and the answer taught the mesh clock the coordinator's time: sign again once.
      if (!retried && err.context.coordCode === 'clock-skew' && this.opts.clock && this.opts.clock.status().corrections !== correctionsBefore) {
        return this.json<T>(method, path, body, signal, true);
      }
      throw err;
    }
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
