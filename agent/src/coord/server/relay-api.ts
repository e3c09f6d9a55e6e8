/**
 * The coordinator's one endpoint for relay servers: POST /v1/relay/admit (docs/mesh-protocol.md
 * "Relay admission"). A relay is not a node (it has no machine key), so it authenticates with the
 * shared relay secret (`coord serve --relay-secret-file`), compared in constant time. Without a secret
 * configured the route does not exist, and relays configured against this coordinator admit no one
 * (they fail closed).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { RelayAdmitRequest, RelayAdmitResponse } from '../protocol.ts';
import { relayAdmitRequestSchema } from '../schemas.ts';
import type { CoordStore } from '../store/types.ts';
import { CoordHttpError } from './http-errors.ts';

/** Hashing both sides first makes the comparison constant-time whatever the lengths. */
function sameSecret(given: string, want: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(want));
}

export function registerRelayApi(app: FastifyInstance, relaySecret: string, store: CoordStore): void {
  app.post<{ Body: RelayAdmitRequest }>(
    '/v1/relay/admit',
    {
      schema: { body: relayAdmitRequestSchema },
      // Checked before the body is parsed: a stranger gets 401 without costing a store read.
      onRequest: async (req) => {
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        if (!m || !sameSecret(m[1]!, relaySecret)) throw new CoordHttpError(401, 'relay-unauthorized', 'relay admission needs the relay secret of this coordinator (coord serve --relay-secret-file)');
      },
    },
    async (req): Promise<RelayAdmitResponse> => {
      const live = new Set((await store.listNodes()).map((n) => n.nodeKey));
      return { admitted: req.body.nodeKeys.filter((k) => live.has(k)) };
    },
  );
}
