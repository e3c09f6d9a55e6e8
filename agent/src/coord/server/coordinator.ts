/**
 * The coordinator process: the node API over HTTPS, the admin API on a unix socket, and the map hub
 * between them and the store. `(config, deps) -> component`; start()/stop() are idempotent and stop()
 * leaves no open handle. The CLI (cli/commands/coord.ts) only parses flags and calls this.
 *
 * Slow clients: headers must arrive within headersMs and the whole request within requestMs (checked
 * every checkIntervalMs), the TLS handshake within handshakeMs; a one-byte-a-second request is cut,
 * never held. Streams are exempt once their request is in (the response may last for hours).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Clock, CancelTimer } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { DEFAULT_PREFIX4, randomUlaPrefix } from '../alloc.ts';
import { LIMITS, type RelayMap } from '../protocol.ts';
import { COORD_FORMATS } from '../schemas.ts';
import type { CoordStore } from '../store/types.ts';
import { registerAdminApi } from './admin-api.ts';
import { installErrorHandling, installJsonParser } from './http-errors.ts';
import { MapHub, type HubOptions } from './hub.ts';
import { registerNodeApi } from './node-api.ts';
import { registerRelayApi } from './relay-api.ts';
import { DEFAULT_REGISTER_LIMIT, TokenBuckets, type RateLimitConfig } from './ratelimit.ts';
import type { TlsIdentity } from './tls.ts';

export interface CoordinatorTimeouts {
  headersMs: number;
  requestMs: number;
  checkIntervalMs: number;
  handshakeMs: number;
  /** Socket inactivity; above the longest keepalive gap (59 s) so quiet streams live. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: CoordinatorTimeouts = { headersMs: 10_000, requestMs: 20_000, checkIntervalMs: 1_000, handshakeMs: 10_000, idleMs: 130_000 };

export interface CoordinatorConfig {
  host: string;
  port: number;
  /** Required by the CLI; only in-process tests run without it (and then never listen). */
  tls?: TlsIdentity;
  prefix4?: string;
  /** Default: a random ULA /48 chosen at the first start and kept in the store. */
  prefix6?: string;
  relays?: RelayMap;
  /** Shared secret relay servers present to POST /v1/relay/admit; absent = no relay admission here. */
  relaySecret?: string;
  adminSocket?: string;
  registerLimit?: RateLimitConfig;
  maxStreamBufferBytes?: number;
  timeouts?: Partial<CoordinatorTimeouts>;
  hub?: HubOptions;
  /** The change log is trimmed to this many entries every trimEveryMs. */
  keepChanges?: number;
  trimEveryMs?: number;
}

export interface CoordinatorDeps {
  store: CoordStore;
  clock: Clock;
  wallNowMs: () => number;
  random: () => number;
  randomBytes: (n: number) => Uint8Array;
  log: Logger;
}

export class Coordinator {
  readonly hub: MapHub;
  readonly app: FastifyInstance;
  readonly admin: FastifyInstance;
  private prefix6 = '';
  private started = false;
  private cancelTrim: CancelTimer | undefined;

  constructor(private readonly config: CoordinatorConfig, private readonly deps: CoordinatorDeps) {
    this.hub = new MapHub({ ...deps, relays: config.relays ?? { regions: [] } }, config.hub);
    this.app = this.nodeApp();
    this.admin = this.adminApp();
  }

  /** The port actually bound (config.port may be 0). */
  get port(): number {
    const addr = this.app.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.config.port;
  }

  get meshPrefix6(): string {
    return this.prefix6;
  }

  /** Prepares store and hub; with listen=false the apps serve only inject() (tests). */
  async start(options: { listen?: boolean } = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.deps.store.migrate();
    // Chosen once, first writer wins: every replica and every restart must hand out the same /48.
    this.prefix6 = this.config.prefix6 ?? (await this.deps.store.initSetting('prefix6', randomUlaPrefix(this.deps.randomBytes)));
    await this.hub.start();
    await Promise.all([this.app.ready(), this.admin.ready()]);
    this.armTrim();
    if (options.listen === false) return;
    await this.app.listen({ host: this.config.host, port: this.config.port });
    if (this.config.adminSocket) await this.listenAdmin(this.config.adminSocket);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.cancelTrim?.();
    await this.hub.stop();
    await Promise.all([this.app.close(), this.admin.close()]);
  }

  private nodeApp(): FastifyInstance {
    const t = { ...DEFAULT_TIMEOUTS, ...this.config.timeouts };
    const tls = this.config.tls;
    const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
      const opts = { requestTimeout: t.requestMs, headersTimeout: t.headersMs, connectionsCheckingInterval: t.checkIntervalMs, keepAliveTimeout: 5_000 };
      const server = tls ? createHttpsServer({ ...opts, key: tls.key, cert: tls.cert, handshakeTimeout: t.handshakeMs }, handler) : createHttpServer(opts, handler);
      server.timeout = t.idleMs;
      return server as Server;
    };
    const app = Fastify({
      serverFactory,
      bodyLimit: LIMITS.maxBodyBytes,
      // Our own logger logs what matters (errors, registrations); fastify's per-request lines would flood it.
      logger: false,
      return503OnClosing: true,
      // A HEAD of GET /v1/map would open a stream with no body to carry it.
      exposeHeadRoutes: false,
      // Strict: nothing coerced, no defaults filled in, unknown properties refused by the schemas.
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, formats: COORD_FORMATS } },
    });
    installJsonParser(app);
    installErrorHandling(app, this.deps.log);
    // Nodes set their mesh clock from this header (node/mesh-clock.ts): it must be the clock that checks
    // their signatures, which is the injected one, not the process's.
    app.addHook('onSend', async (_req, reply) => {
      reply.header('date', new Date(this.deps.wallNowMs()).toUTCString());
    });
    const limiter = new TokenBuckets(this.config.registerLimit ?? DEFAULT_REGISTER_LIMIT);
    const self = this;
    registerNodeApi(
      app,
      {
        prefix4: this.config.prefix4 ?? DEFAULT_PREFIX4,
        get prefix6() {
          return self.prefix6;
        },
        registerLimiter: limiter,
        maxStreamBufferBytes: this.config.maxStreamBufferBytes ?? 32 * 1024 * 1024,
      },
      { store: this.deps.store, hub: this.hub, log: this.deps.log, wallNowMs: this.deps.wallNowMs, monoNowMs: () => this.deps.clock.nowMs() },
    );
    if (this.config.relaySecret) registerRelayApi(app, this.config.relaySecret, this.deps.store);
    return app;
  }

  private adminApp(): FastifyInstance {
    const app = Fastify({
      bodyLimit: LIMITS.maxBodyBytes,
      // Our own logger logs what matters (errors, registrations); fastify's per-request lines would flood it.
      logger: false,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, formats: COORD_FORMATS } },
    });
    installJsonParser(app);
    installErrorHandling(app, this.deps.log);
    registerAdminApi(app, { store: this.deps.store, hub: this.hub, log: this.deps.log, wallNowMs: this.deps.wallNowMs, randomBytes: this.deps.randomBytes });
    return app;
  }

  /** The socket is made under a 077 umask so it is 0600 from the first moment, then chmod'ed to be sure. */
  private async listenAdmin(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await rm(path, { force: true });
    const old = process.umask(0o077);
    try {
      await this.admin.listen({ path });
    } finally {
      process.umask(old);
    }
    await chmod(path, 0o600);
  }

  private armTrim(): void {
    const every = this.config.trimEveryMs ?? 600_000;
    this.cancelTrim = this.deps.clock.setTimer(every, () => {
      void this.deps.store.trimChanges(this.config.keepChanges ?? 100_000).catch((err: unknown) => this.deps.log.warn({ err }, 'coord: trimming the change log failed'));
      if (this.started) this.armTrim();
    });
  }
}
