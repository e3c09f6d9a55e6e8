/**
 * The admin API, served only on the local admin socket (unix, 0600: filesystem permissions are the
 * authentication). Every change goes through the same store calls and change log as the nodes' own
 * requests, so streams see an admin's approval exactly like any other change.
 *
 * Auth key secrets: 32 random bytes, shown once in the create answer; the store keeps only their SHA-256.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.ts';
import { formatCidr, parseCidr } from '../../net/ip.ts';
import { adminAuthKeyCreateSchema, adminRenameSchema, adminRouteSchema } from '../schemas.ts';
import { hashSecret } from '../store/rules.ts';
import type { AuthKeyRecord, CoordStore, NodeRecord } from '../store/types.ts';
import { CoordHttpError } from './http-errors.ts';
import type { MapHub } from './hub.ts';

export interface AdminApiDeps {
  store: CoordStore;
  hub: MapHub;
  log: Logger;
  wallNowMs: () => number;
  randomBytes: (n: number) => Uint8Array;
}

/** What `authkey list` shows: never the secret, nor its hash. */
export type AuthKeyView = Omit<AuthKeyRecord, 'secretSha256'>;
export interface NodeView extends Omit<NodeRecord, 'machineKey'> {
  machineKey: string;
  online: boolean;
}

const viewKey = ({ secretSha256: _, ...rest }: AuthKeyRecord): AuthKeyView => rest;

export function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): void {
  const { store } = deps;
  const hex = (n: number) => Buffer.from(deps.randomBytes(n)).toString('hex');
  const nodeOr404 = async (id: string): Promise<NodeRecord> => {
    const n = await store.nodeById(id);
    if (!n || n.revokedAtMs !== null) throw new CoordHttpError(404, 'node-unknown', `no live node ${id}`);
    return n;
  };

  app.post<{ Body: { reusable?: boolean; expiresInSec?: number; tags?: string[] } }>('/admin/authkeys', { schema: { body: adminAuthKeyCreateSchema } }, async (req) => {
    const now = deps.wallNowMs();
    const secret = `cgk_${hex(32)}`;
    const record: AuthKeyRecord = {
      id: `ak_${hex(8)}`,
      secretSha256: hashSecret(secret),
      reusable: req.body.reusable ?? false,
      tags: req.body.tags ?? [],
      createdAtMs: now,
      expiresAtMs: req.body.expiresInSec === undefined ? null : now + req.body.expiresInSec * 1000,
      usedAtMs: null,
      revokedAtMs: null,
      uses: 0,
    };
    await store.createAuthKey(record);
    deps.log.info({ id: record.id, reusable: record.reusable }, 'coord: auth key created');
    return { ...viewKey(record), secret };
  });

  app.get('/admin/authkeys', async () => ({ authKeys: (await store.listAuthKeys()).map(viewKey) }));

  app.post<{ Params: { id: string } }>('/admin/authkeys/:id/expire', async (req) => {
    if (!(await store.expireAuthKey(req.params.id, deps.wallNowMs()))) throw new CoordHttpError(404, 'auth-key-unknown', `no auth key ${req.params.id}`);
    return { id: req.params.id, expired: true };
  });

  app.get<{ Querystring: { all?: string } }>('/admin/nodes', async (req) => {
    const nodes = await store.listNodes({ includeRevoked: req.query.all === '1' });
    return { nodes: nodes.map((n): NodeView => ({ ...n, online: deps.hub.isOnline(n.id) })) };
  });

  app.post<{ Params: { id: string }; Body: { name: string } }>('/admin/nodes/:id/rename', { schema: { body: adminRenameSchema } }, async (req) => {
    const node = await nodeOr404(req.params.id);
    const name = req.body.name.toLowerCase();
    const clash = (await store.listNodes()).find((n) => n.id !== node.id && n.name.toLowerCase() === name);
    if (clash) throw new CoordHttpError(409, 'conflict', `node ${clash.id} is already called ${name}`);
    const updated = await store.updateNode(node.id, { name }, deps.wallNowMs());
    return { id: node.id, name: updated?.name ?? name };
  });

  app.post<{ Params: { id: string } }>('/admin/nodes/:id/revoke', async (req) => {
    await nodeOr404(req.params.id);
    await store.revokeNode(req.params.id, deps.wallNowMs());
    deps.log.info({ node: req.params.id }, 'coord: node revoked');
    return { id: req.params.id, revoked: true };
  });

  app.get('/admin/routes', async () => ({ routes: await store.listRoutes() }));

  for (const [verb, approved] of [['approve', true], ['reject', false]] as const) {
    app.post<{ Body: { nodeId: string; cidr: string } }>(`/admin/routes/${verb}`, { schema: { body: adminRouteSchema } }, async (req) => {
      await nodeOr404(req.body.nodeId);
      const cidr = formatCidr(parseCidr(req.body.cidr)!);
      if (!(await store.setRouteApproval(req.body.nodeId, cidr, approved, deps.wallNowMs()))) {
        throw new CoordHttpError(404, 'not-found', `node ${req.body.nodeId} does not advertise ${cidr}`);
      }
      return { nodeId: req.body.nodeId, cidr, approved };
    });
  }
}
