/**
 * An in-process coordinator twin speaking the HTTPS protocol of docs/mesh-protocol.md (register, the
 * NDJSON map stream with full + deltas + resume, endpoints, logout), with signature checks, for node
 * tests until the real coordinator can be merged. Not the product coordinator: no store, one address
 * pool, no rate limits. Counters let tests assert what was asked; `revoke`, `down`/`up` drive the
 * situations the node must survive.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Endpoint, MapMessage, Peer, SelfNode } from '../../agent/src/coord/protocol.ts';
import { verifyAuthorization } from '../../agent/src/node/request-sign.ts';

interface TwinNode {
  id: string;
  machineKey: string;
  name: string;
  nodeKey: string;
  discoKey: string;
  n: number;
  endpoints: Endpoint[];
  homeRelay: string | null;
  /** The UDP relay the node offers (from its endpoint report; absent = none). */
  udpRelay?: string;
  advertised: string[];
  approved: string[];
  revoked: boolean;
}

export interface CoordTwinOptions {
  cert: string;
  key: string;
  authKeys: string[];
  host?: string;
  port?: number;
  keepaliveMs?: number;
}

type Delta = Extract<MapMessage, { t: 'delta' }>;

export class CoordTwin {
  readonly counts: Record<string, number> = {};
  private server: Server | undefined;
  private readonly nodes = new Map<string, TwinNode>();
  private readonly log: Delta[] = [];
  private readonly streams = new Map<ServerResponse, TwinNode>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  port = 0;

  constructor(private readonly opts: CoordTwinOptions) {}

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer({ cert: this.opts.cert, key: this.opts.key }, (req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port || this.opts.port || 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.timer = setInterval(() => this.broadcastRaw({ t: 'keepalive' }), this.opts.keepaliveMs ?? 50_000);
  }

  /** Stops listening and cuts every stream (a crashed or stopped coordinator). */
  async down(): Promise<void> {
    clearInterval(this.timer);
    for (const res of this.streams.keys()) res.destroy();
    this.streams.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); });
  }

  get url(): string {
    return `https://${this.opts.host ?? '127.0.0.1'}:${this.port}`;
  }
  /** Routes a node advertises now, by name. */
  advertisedBy(name: string): string[] | undefined {
    return [...this.nodes.values()].find((n) => n.name === name && !n.revoked)?.advertised;
  }

  nodeList(): { id: string; name: string; revoked: boolean; endpoints: Endpoint[] }[] {
    return [...this.nodes.values()].map((n) => ({ id: n.id, name: n.name, revoked: n.revoked, endpoints: n.endpoints }));
  }
  streamCount(): number {
    return this.streams.size;
  }

  revoke(id: string): void {
    const n = [...this.nodes.values()].find((x) => x.id === id);
    if (!n || n.revoked) return;
    n.revoked = true;
    this.emit({ remove: [n.id] });
    for (const [res, who] of this.streams) if (who === n) { res.end(); this.streams.delete(res); }
  }

  approveRoute(id: string, cidr: string): void {
    const n = [...this.nodes.values()].find((x) => x.id === id)!;
    if (!n.approved.includes(cidr)) n.approved.push(cidr);
    this.emit({ patch: [{ id: n.id, routes: n.approved }] });
  }

  private peer(n: TwinNode): Peer {
    return { id: n.id, name: n.name, nodeKey: n.nodeKey, discoKey: n.discoKey, addresses: [`100.64.0.${n.n}/32`, `fd7a:115c:a1e0::${n.n.toString(16)}/128`], routes: n.approved, endpoints: n.endpoints, homeRelay: n.homeRelay, ...(n.udpRelay ? { udpRelay: n.udpRelay } : {}), online: true, lastSeenMs: 0 };
  }
  private self(n: TwinNode): SelfNode {
    return { id: n.id, name: n.name, machineKey: n.machineKey, nodeKey: n.nodeKey, discoKey: n.discoKey, addresses: this.peer(n).addresses, advertisedRoutes: n.advertised, approvedRoutes: n.approved, tags: [] };
  }

  private emit(d: Omit<Delta, 't' | 'seq'>): void {
    const delta: Delta = { t: 'delta', seq: ++this.seq, ...d };
    this.log.push(delta);
    this.broadcastRaw(delta);
  }
  private broadcastRaw(m: MapMessage): void {
    for (const res of this.streams.keys()) res.write(JSON.stringify(m) + '\n');
  }

  private fail(res: ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message } }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'https://x');
    this.counts[`${req.method} ${url.pathname}`] = (this.counts[`${req.method} ${url.pathname}`] ?? 0) + 1;
    const v = verifyAuthorization(req.headers.authorization, req.method ?? '', req.url ?? '', body, Date.now());
    if (!v.ok) return this.fail(res, 401, v.code, 'request signature refused');
    const node = this.nodes.get(v.machineKey);
    if (url.pathname === '/v1/register' && req.method === 'POST') return this.register(v.machineKey, node, JSON.parse(body), res);
    if (!node) return this.fail(res, 403, 'node-unknown', 'register first');
    if (node.revoked) return this.fail(res, 403, 'node-revoked', 'this node was revoked');
    if (url.pathname === '/v1/map' && req.method === 'GET') return this.map(node, url.searchParams.get('since'), res);
    if (url.pathname === '/v1/endpoints' && req.method === 'POST') {
      const b = JSON.parse(body) as { endpoints: Endpoint[]; udpRelay?: string };
      node.endpoints = b.endpoints;
      // As the real coordinator: a report without udpRelay withdraws it.
      if (b.udpRelay === undefined) delete node.udpRelay;
      else node.udpRelay = b.udpRelay;
      this.emit({ patch: [{ id: node.id, endpoints: node.endpoints, ...(node.udpRelay ? { udpRelay: node.udpRelay } : {}) }] });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }
    if (url.pathname === '/v1/routes' && req.method === 'POST') {
      // Approval kept for routes still advertised, as the real store does.
      node.advertised = (JSON.parse(body) as { advertise: string[] }).advertise;
      node.approved = node.approved.filter((c) => node.advertised.includes(c));
      this.emit({ patch: [{ id: node.id, routes: node.approved }] });
      return void res.writeHead(204).end();
    }
    if (url.pathname === '/v1/logout' && req.method === 'POST') {
      node.revoked = true;
      this.emit({ remove: [node.id] });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }
    this.fail(res, 404, 'bad-request', 'no such endpoint');
  }

  private register(machineKey: string, node: TwinNode | undefined, b: { authKey?: string; nodeKey: string; discoKey: string; hostname: string; advertiseRoutes?: string[] }, res: ServerResponse): void {
    if (node?.revoked) return this.fail(res, 403, 'node-revoked', 'this node was revoked');
    if (!node) {
      if (!b.authKey) return this.fail(res, 401, 'auth-key-required', 'an auth key is required');
      if (!this.opts.authKeys.includes(b.authKey)) return this.fail(res, 401, 'auth-key-unknown', 'unknown auth key');
      const n = this.nodes.size + 2;
      node = { id: `node${n}`, machineKey, name: b.hostname, nodeKey: b.nodeKey, discoKey: b.discoKey, n, endpoints: [], homeRelay: null, advertised: b.advertiseRoutes ?? [], approved: [], revoked: false };
      this.nodes.set(machineKey, node);
      this.emit({ upsert: [this.peer(node)] });
    } else if (node.nodeKey !== b.nodeKey) {
      node.nodeKey = b.nodeKey;
      this.emit({ upsert: [this.peer(node)] });
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ self: this.self(node) }));
  }

  private map(node: TwinNode, sinceText: string | null, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const since = sinceText === null ? undefined : Number(sinceText);
    const oldest = this.log[0]?.seq ?? this.seq + 1;
    if (since !== undefined && since >= oldest - 1 && since <= this.seq) {
      for (const d of this.log) if (d.seq > since) res.write(JSON.stringify(d) + '\n');
    } else {
      const peers = [...this.nodes.values()].filter((n) => !n.revoked && n !== node).map((n) => this.peer(n));
      res.write(JSON.stringify({ t: 'full', seq: this.seq, self: this.self(node), peers, relays: { regions: [] }, keepaliveSec: 50 }) + '\n');
    }
    this.streams.set(res, node);
    res.once('close', () => this.streams.delete(res));
  }
}
