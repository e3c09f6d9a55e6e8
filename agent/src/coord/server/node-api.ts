/**
 * The coordinator's node API (docs/mesh-protocol.md "Endpoints"): register, the map stream, endpoint
 * and route reports, logout. Every request is signed by the node's machine key (sign.ts); bodies are
 * checked by ajv against schemas.ts before a handler runs.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/logger.ts';
import type { EndpointsRequest, RegisterRequest, RegisterResponse, RouteHealthRequest, RoutesRequest } from '../protocol.ts';
import { endpointsRequestSchema, mapQuerySchema, registerRequestSchema, routeHealthRequestSchema, routesRequestSchema } from '../schemas.ts';
import { verifyRequest } from '../sign.ts';
import type { CoordStore, NodeRecord } from '../store/types.ts';
import { CoordHttpError, rawBodyOf } from './http-errors.ts';
import type { MapHub, StreamSink } from './hub.ts';
import { TokenBuckets } from './ratelimit.ts';
import { selfOf } from './views.ts';

export interface NodeApiDeps {
  store: CoordStore;
  hub: MapHub;
  log: Logger;
  /** Wall-clock ms: signature skew, timestamps in the store. */
  wallNowMs: () => number;
  /** Monotonic ms for the rate limiter. */
  monoNowMs: () => number;
}

export interface NodeApiConfig {
  prefix4: string;
  prefix6: string;
  registerLimiter: TokenBuckets;
  /** A stream whose unsent bytes pass this is cut: a node that does not read is not buffered without bound. */
  maxStreamBufferBytes: number;
}

const REFUSAL_STATUS = { 'auth-key-unknown': 401, 'auth-key-used': 403, 'auth-key-expired': 403, 'node-revoked': 403, 'no-address': 503 } as const;
const REFUSAL_TEXT = {
  'auth-key-unknown': 'the auth key is not known to this coordinator',
  'auth-key-used': 'the auth key was single-use and has already been used: create a new one (conegate coord authkey create)',
  'auth-key-expired': 'the auth key has expired or was expired by the admin: create a new one',
  'node-revoked': 'this machine was revoked by the admin; a revoked machine key cannot register again (make a new identity)',
  'no-address': 'the mesh address pool is exhausted',
} as const;

export function registerNodeApi(app: FastifyInstance, config: NodeApiConfig, deps: NodeApiDeps): void {
  const { store, hub } = deps;

  /** The signature proves the machine key; the key must belong to a live node (except for register). */
  const machineKeyOf = (req: FastifyRequest): string => {
    const r = verifyRequest({ authorization: req.headers.authorization, method: req.method, pathWithQuery: req.url, body: rawBodyOf(req), nowMs: deps.wallNowMs() });
    if (!r.ok) throw new CoordHttpError(401, r.code, r.message);
    return r.machineKey;
  };
  const liveNode = async (req: FastifyRequest): Promise<NodeRecord> => {
    const node = await store.nodeByMachineKey(machineKeyOf(req));
    if (!node) throw new CoordHttpError(401, 'node-unknown', 'this machine key is not registered: register first');
    if (node.revokedAtMs !== null) throw new CoordHttpError(403, 'node-revoked', REFUSAL_TEXT['node-revoked']);
    return node;
  };

  app.post<{ Body: RegisterRequest }>(
    '/v1/register',
    {
      schema: { body: registerRequestSchema },
      onRequest: async (req) => {
        if (!config.registerLimiter.take(req.ip, deps.monoNowMs())) throw new CoordHttpError(429, 'rate-limited', 'too many registrations from this address; retry later');
      },
    },
    async (req): Promise<RegisterResponse> => {
      const machineKey = machineKeyOf(req);
      const body = req.body;
      if (body.authKey === undefined) {
        const known = await store.nodeByMachineKey(machineKey);
        if (!known) throw new CoordHttpError(401, 'auth-key-required', 'this machine is not registered yet: an auth key is required (--auth-key)');
      }
      const now = deps.wallNowMs();
      const r = await store.registerNode({
        machineKey,
        nodeKey: body.nodeKey,
        discoKey: body.discoKey,
        hostname: body.hostname.toLowerCase(),
        authKeySecret: body.authKey ?? '',
        advertiseRoutes: body.advertiseRoutes ?? [],
        prefix4: config.prefix4,
        prefix6: config.prefix6,
        nowMs: now,
      });
      if (!r.ok) throw new CoordHttpError(REFUSAL_STATUS[r.reason], r.reason, REFUSAL_TEXT[r.reason]);
      if (r.created) deps.log.info({ node: r.node.id, name: r.node.name }, 'coord: node registered');
      const routes = (await store.listRoutes()).filter((x) => x.nodeId === r.node.id);
      return { self: selfOf(r.node, routes) };
    },
  );

  app.get<{ Querystring: { since?: string } }>('/v1/map', { schema: { querystring: mapQuerySchema } }, async (req, reply) => {
    const node = await liveNode(req);
    const since = req.query.since === undefined ? undefined : Number(req.query.since);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', date: new Date(deps.wallNowMs()).toUTCString() });
    const sink = responseSink(res, config.maxStreamBufferBytes);
    res.on('close', () => void hub.detach(node.id, sink));
    await hub.attach(node, sink, since);
  });

  app.post<{ Body: EndpointsRequest }>('/v1/endpoints', { schema: { body: endpointsRequestSchema } }, async (req, reply) => {
    const node = await liveNode(req);
    const { udpRelay } = req.body;
    const endpoints = udpRelay === undefined ? req.body.endpoints : [...req.body.endpoints, { addr: udpRelay, type: 'udp-relay' as const }];
    const patch = req.body.homeRelay === undefined ? { endpoints } : { endpoints, homeRelay: req.body.homeRelay };
    await store.updateNode(node.id, patch, deps.wallNowMs());
    return reply.code(204).send();
  });

  app.post<{ Body: RoutesRequest }>('/v1/routes', { schema: { body: routesRequestSchema } }, async (req, reply) => {
    const node = await liveNode(req);
    await store.setAdvertisedRoutes(node.id, req.body.advertise, deps.wallNowMs());
    return reply.code(204).send();
  });

  // Health is the hub's memory, not the store's: it is about now, and a router reports it again after
  // every reconnect (a coordinator restart forgets it; the router's next report restores it).
  app.post<{ Body: RouteHealthRequest }>('/v1/route-health', { schema: { body: routeHealthRequestSchema } }, async (req, reply) => {
    const node = await liveNode(req);
    await hub.setRouteHealth(node.id, req.body.unhealthy);
    return reply.code(204).send();
  });

  // Logout is revocation: the node leaves every map at once and its machine key cannot come back;
  // the node discards its identity and registers anew with an auth key if it wants to return.
  app.post('/v1/logout', async (req, reply) => {
    const node = await liveNode(req);
    await store.revokeNode(node.id, deps.wallNowMs());
    deps.log.info({ node: node.id }, 'coord: node logged out');
    return reply.code(204).send();
  });
}

function responseSink(res: ServerResponse, maxBufferedBytes: number): StreamSink {
  return {
    write(line) {
      if (res.destroyed || res.writableEnded) return false;
      res.write(line);
      // writableLength counts what the response and its socket still hold: a reader that stopped reading.
      if (res.writableLength > maxBufferedBytes) {
        res.destroy();
        return false;
      }
      return true;
    },
    end() {
      if (!res.writableEnded && !res.destroyed) res.end();
    },
  };
}
