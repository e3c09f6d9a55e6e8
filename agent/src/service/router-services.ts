/**
 * The router services `conegate up` runs beside the mesh node when the config enables them:
 * the NAT-PMP/PCP server (pmp), the upstream port mapping of the mesh port (portmap), the
 * endpoint-independent NAT rules (nat: applied at start and again after the WAN address changes) and a
 * periodic netcheck. Each is a thin component over the area's own code; the logic lives there.
 */
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import { PmpServer } from '../pmpd/server.ts';
import { defaultStateFile, makeBackend, policyFromConfig, resolveLan, wanSource } from '../pmpd/setup.ts';
import { createPortmapper, netcheckPortmapProbe, type Portmapper } from '../portmap/index.ts';
import { NatApplier } from '../fw/nat/applier.ts';
import { processRunner } from '../fw/nat/runner.ts';
import { backendFor, generateFor } from '../fw/nat/session.ts';
import { buildReport } from '../netcheck/classify.ts';
import { resolveEndpoint } from '../netcheck/resolve.ts';
import { observe } from '../netcheck/run.ts';
import type { NetcheckReport } from '../netcheck/types.ts';
import { detectPlatform } from '../platform/detect.ts';
import { openDgramBind } from '../stun/dgram-bind.ts';
import { idempotent, type Component } from './component.ts';
import { formatAddrPort } from '../node/endpoints.ts';
import { join } from 'node:path';

export interface ServiceDeps {
  clock: Clock;
  log: Logger;
  stateDir: string;
}

export function pmpComponent(config: Config, deps: ServiceDeps & { port?: number }): Component & { mappings(): unknown } {
  let server: PmpServer | undefined;
  const c = idempotent(
    'pmp',
    async () => {
      const lan = resolveLan(config.pmp.lan);
      const stateFile = config.pmp.stateFile ?? defaultStateFile({ ...config, stateDir: config.stateDir ?? deps.stateDir });
      await mkdir(dirname(stateFile), { recursive: true, mode: 0o700 });
      const backend = makeBackend(config.pmp.backend, config.pmp.wan === undefined ? {} : { wanIf: config.pmp.wan });
      server = new PmpServer({ lan, stateFile, policy: policyFromConfig(config, lan), ...(deps.port ? { port: deps.port } : {}) }, { clock: deps.clock, log: deps.log, backend, wan: wanSource(config.pmp.wan) });
      await server.start();
    },
    async () => server?.stop(),
  );
  // The PCP nonce is the client's secret for the mapping: never shown. Times as seconds left.
  const mappings = () => ({
    mappings: (server?.core.table.all() ?? []).map(({ nonce: _nonce, expiresAtMs, ...m }) => ({ ...m, remainingSec: Math.max(0, Math.round((expiresAtMs - deps.clock.nowMs()) / 1000)) })),
  });
  return { ...c, status: () => ({ mappings: server?.core.table.all().length ?? 0 }), mappings };
}

/** Maps the mesh port upstream; `onEndpoint` gets the external endpoint ("addr:port") or undefined when lost. */
export function portmapComponent(config: Config, deps: ServiceDeps & { port: () => number; onEndpoint: (ep: string | undefined) => void }): Component {
  let pm: Portmapper | undefined;
  let current: string | undefined;
  return idempotent(
    'portmap',
    async () => {
      pm = await createPortmapper(config.portmap, { protocol: 'udp', internalPort: deps.port() }, { clock: deps.clock, log: deps.log });
      pm.on('endpointChanged', (ch) => {
        current = ch.endpoint ? formatAddrPort(ch.endpoint.address, ch.endpoint.port) : undefined;
        deps.log.info({ endpoint: current ?? null, reason: ch.reason }, 'portmap: mesh port mapping changed');
        deps.onEndpoint(current);
      });
      await pm.start();
    },
    async () => pm?.stop(),
    () => ({ phase: pm?.phase() ?? 'off', endpoint: current ?? null }),
  );
}

/** Current IPv4 addresses of the WAN interfaces, as one comparable string. */
function wanFingerprint(wan: string[]): string {
  const ifs = networkInterfaces();
  return wan.map((w) => `${w}=${(ifs[w] ?? []).map((a) => a.address).sort().join(',')}`).join(';');
}

export function natComponent(config: Config, deps: ServiceDeps): Component {
  let cancel: CancelTimer | undefined;
  let last = '';
  let lastResult = 'not applied';
  const run = processRunner();
  const apply = async () => {
    try {
      const gen = await generateFor(config.nat, {}, run);
      const applier = new NatApplier({ backend: backendFor(gen.backend, gen.target, run), stateDir: join(config.stateDir ?? deps.stateDir, 'nat'), clock: deps.clock });
      // The service re-applies rules already confirmed by a person (config): no grace period here.
      const r = await applier.apply(gen.text, { confirmMs: 0 });
      lastResult = `${r.outcome}: ${r.reason}`;
      deps.log.info({ target: gen.target, outcome: r.outcome }, 'nat: rules applied');
    } catch (err) {
      lastResult = `failed: ${(err as Error).message}`;
      deps.log.error({ err: (err as Error).message }, 'nat: apply failed');
    }
  };
  const poll = () => {
    cancel = deps.clock.setTimer(config.nat.pollSec * 1000, () => {
      const now = wanFingerprint(config.nat.wan);
      const changed = now !== last;
      last = now;
      void (changed ? apply() : Promise.resolve()).then(poll);
    });
  };
  return idempotent(
    'nat',
    async () => {
      last = wanFingerprint(config.nat.wan);
      await apply();
      poll();
    },
    async () => cancel?.(),
    () => ({ last: lastResult }),
  );
}

const NETCHECK_EVERY_MS = 10 * 60_000;

export function netcheckComponent(config: Config, deps: ServiceDeps): Component {
  let cancel: CancelTimer | undefined;
  let report: NetcheckReport | undefined;
  let stopped = false;
  const once = async () => {
    try {
      const obs = await observe(
        { servers: config.netcheck.stunServers, timeoutMs: config.netcheck.timeoutMs },
        {
          clock: deps.clock,
          randomBytes: (n) => randomBytes(n),
          openBind: (f) => openDgramBind(f === 4 ? '0.0.0.0' : '::'),
          resolve: resolveEndpoint,
          portmap: netcheckPortmapProbe({ ...(config.portmap.gateway ? { gateway: config.portmap.gateway } : {}), protocols: config.portmap.protocols, timeoutMs: config.netcheck.timeoutMs }),
          localAddresses: () => Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.split('%')[0]!)),
        },
      );
      report = buildReport(obs, await detectPlatform('/'));
      deps.log.info({ summary: report.verdict.summary }, 'netcheck: done');
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'netcheck: failed');
    }
    if (!stopped) cancel = deps.clock.setTimer(NETCHECK_EVERY_MS, () => void once());
  };
  return idempotent(
    'netcheck',
    async () => {
      void once();
    },
    async () => {
      stopped = true;
      cancel?.();
    },
    () => (report ? { summary: report.verdict.summary, ipv4: report.ipv4 ?? null } : null),
  );
}
