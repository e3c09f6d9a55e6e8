/**
 * A simulated mesh node speaking the coordinator protocol over real HTTPS with a pinned certificate:
 * register, report endpoints and routes, and hold a map stream. For coordinator tests and the bench
 * (the real node is agent/src/node). Counts what it received so tests assert counts, not timing.
 */
import { request, type IncomingMessage } from 'node:http';
import type { MapMessage, RegisterResponse } from '../../agent/src/coord/protocol.ts';
import { signRequest, type MachineKeyPair } from '../../agent/src/coord/sign.ts';
import { connectPinned, type PinnedTarget } from '../../agent/src/coord/tls-pin.ts';

export interface Reply {
  status: number;
  body: any;
}

export interface MapStream {
  messages: MapMessage[];
  /** Bytes of stream data received. */
  bytes: number;
  /** Resolves when the server ends or cuts the stream. */
  closed: Promise<void>;
  close(): void;
}

export class SimNode {
  constructor(
    readonly target: PinnedTarget,
    readonly key: MachineKeyPair,
    private readonly wallNowMs: () => number = Date.now,
  ) {}

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
    const res = await this.send(method, path, body);
    const text = await readAll(res);
    return { status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined };
  }

  async register(authKey: string | undefined, hostname: string, keys: { nodeKey: string; discoKey: string }): Promise<RegisterResponse> {
    const r = await this.request('POST', '/v1/register', { ...(authKey ? { authKey } : {}), hostname, ...keys });
    if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as RegisterResponse;
  }

  /** Opens GET /v1/map; `onMessage` sees every line as it arrives. */
  async stream(since?: number, onMessage?: (m: MapMessage, bytes: number) => void): Promise<MapStream> {
    const res = await this.send('GET', since === undefined ? '/v1/map' : `/v1/map?since=${since}`);
    if (res.statusCode !== 200) throw new Error(`map: ${res.statusCode} ${await readAll(res)}`);
    const s: MapStream = { messages: [], bytes: 0, closed: undefined as unknown as Promise<void>, close: () => res.destroy() };
    let buf = '';
    s.closed = new Promise((resolve) => {
      res.on('close', () => resolve());
      res.on('error', () => resolve());
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = JSON.parse(line) as MapMessage;
        const bytes = Buffer.byteLength(line) + 1;
        s.bytes += bytes;
        s.messages.push(m);
        onMessage?.(m, bytes);
      }
    });
    return s;
  }

  private async send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<IncomingMessage> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const socket = await connectPinned(this.target);
    return new Promise((resolve, reject) => {
      const req = request({
        method,
        path,
        host: this.target.host,
        port: this.target.port,
        // No agent: the already verified TLS socket carries plain HTTP/1.1 (an agent would dial anew).
        createConnection: () => socket,
        headers: {
          authorization: signRequest(this.key, method, path, payload, this.wallNowMs()),
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

/** Waits until cond() holds, checking on every event-loop turn up to timeoutMs (a bound, not an assertion). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
