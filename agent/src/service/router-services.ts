/**
 * The router services `conegate up` runs beside the mesh node when the config enables them:
 * the NAT-PMP/PCP server (pmp), the upstream port mapping of the mesh port (portmap), the
 * endpoint-independent NAT rules (nat: applied at start and again after the WAN address changes) and a
 * periodic netcheck. Each is a thin component over the area's own code; the logic lives there.
 * That code is imported when a component starts, not with this file: an agent that runs only the mesh
 * never loads the PF/nftables generator, the NAT-PMP server or netcheck (issue 16: idle RSS).
 */
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import type { PmpServer } from '../pmpd/server.ts';
import type { Portmapper } from '../portmap/index.ts';
import type { NetcheckReport } from '../netcheck/types.ts';
import { detectPlatform } from '../platform/detect.ts';
import { idempotent, type Component } from './component.ts';
import { formatAddrPort } from '../node/endpoints.ts';
import { join } from 'node:path';
import { ConegateError } from '../errors.ts';
import type { MappingView } from '../web/page-model.ts';

export interface ServiceDeps {
  clock: Clock;
  log: Logger;
  stateDir: string;
}

export interface PmpComponent extends Component {
  mappings(): { mappings: MappingView[] };
  epochSec(): number;
  /** The page's delete: one mapping, the others and the epoch unchanged (PmpCore.deleteMapping). */
  deleteMapping(client: string, protocol: 'udp' | 'tcp', internalPort: number): Promise<unknown>;
}

export function pmpComponent(config: Config, deps: ServiceDeps & { port?: number }): PmpComponent {
  let server: PmpServer | undefined;
  // `serving`: every LAN socket bound and the core started (the fleet's health gate reads it).
  let serving = false;
  const c = idempotent(
    'pmp',
    async () => {
      const [{ PmpServer }, { defaultStateFile, makeBackend, policyFromConfig, resolveLan, wanSource }] = await Promise.all([import('../pmpd/server.ts'), import('../pmpd/setup.ts')]);
      const lan = resolveLan(config.pmp.lan);
      const stateFile = config.pmp.stateFile ?? defaultStateFile({ ...config, stateDir: config.stateDir ?? deps.stateDir });
      await mkdir(dirname(stateFile), { recursive: true, mode: 0o700 });
      const backend = makeBackend(config.pmp.backend, config.pmp.wan === undefined ? {} : { wanIf: config.pmp.wan });
      server = new PmpServer({ lan, stateFile, policy: policyFromConfig(config, lan), ...(deps.port ? { port: deps.port } : {}) }, { clock: deps.clock, log: deps.log, backend, wan: wanSource(config.pmp.wan) });
      await server.start();
      serving = true;
    },
    async () => {
      serving = false;
      await server?.stop();
    },
  );
  // The PCP nonce is the client's secret for the mapping: never shown. Times as seconds left.
  const mappings = () => ({
    mappings: (server?.core.table.all() ?? []).map(({ nonce: _nonce, expiresAtMs, ...m }) => ({ ...m, remainingSec: Math.max(0, Math.round((expiresAtMs - deps.clock.nowMs()) / 1000)) })),
  });
  const deleteMapping = async (client: string, protocol: 'udp' | 'tcp', internalPort: number) => {
    if (!server) throw new ConegateError('CG_NOT_RUNNING', 'the NAT-PMP/PCP server is not running');
    const { nonce: _nonce, expiresAtMs: _e, ...m } = await server.core.deleteMapping(client, protocol, internalPort);
    return { deleted: m };
  };
  return { ...c, status: () => ({ mappings: server?.core.table.all().length ?? 0, serving }), mappings, epochSec: () => server?.core.epochSec() ?? 0, deleteMapping };
}

/**
 * How often the mesh port's mapping is renewed at most, which is also how often the gateway's epoch is
 * checked (RFC 6886 3.6, RFC 6887 8.5: every reply carries it). A gateway's restart announcement to
 * 224.0.0.1:5350 is the fast way to notice a reboot, but a router node's own WAN filter drops it (the lab
 * showed it: an appliance accepts only replies on its WAN): without this, a rebooted ISP box went
 * unnoticed until the renewal at half the 2 h lifetime, and the peers that could reach us only through
 * the mapping stayed relayed all that time. One request a minute is the price.
 */
export const MESH_EPOCH_CHECK_SEC = 60;

/** The portmap config for the mesh port: a renewal (epoch check) at least every MESH_EPOCH_CHECK_SEC. */
export function meshPortmapConfig(portmap: Config['portmap']): Config['portmap'] {
  return { ...portmap, renewAfterSec: Math.min(portmap.renewAfterSec ?? MESH_EPOCH_CHECK_SEC, MESH_EPOCH_CHECK_SEC) };
}

/**
 * Maps the mesh port upstream; `onEndpoint` gets the external endpoint ("addr:port") or undefined when
 * lost, and the reason (`recreated`: the gateway had lost its state, e.g. a reboot; the endpoint may be
 * the same as before).
 */
export function portmapComponent(config: Config, deps: ServiceDeps & { port: () => number; onEndpoint: (ep: string | undefined, reason: string) => void }): Component {
  let pm: Portmapper | undefined;
  let current: string | undefined;
  return idempotent(
    'portmap',
    async () => {
      const { createPortmapper } = await import('../portmap/index.ts');
      pm = await createPortmapper(meshPortmapConfig(config.portmap), { protocol: 'udp', internalPort: deps.port() }, { clock: deps.clock, log: deps.log });
      pm.on('endpointChanged', (ch) => {
        current = ch.endpoint ? formatAddrPort(ch.endpoint.address, ch.endpoint.port) : undefined;
        deps.log.info({ endpoint: current ?? null, reason: ch.reason }, 'portmap: mesh port mapping changed');
        deps.onEndpoint(current, ch.reason);
      });
      await pm.start();
    },
    async () => pm?.stop(),
    () => ({ phase: pm?.phase() ?? 'off', endpoint: current ?? null }),
  );
}

/**
 * The addresses of the WAN interfaces as one comparable string. `nat.wan` empty means "every WAN"
 * (the rules then cover all interfaces with a gateway): every non-loopback interface counts, except
 * `exclude` (the mesh TUN, whose addresses are ours, not the WAN's). Before, an empty list gave a
 * constant fingerprint and a WAN change never re-applied the rules.
 */
export function wanFingerprint(ifs: Record<string, { address: string; internal: boolean }[] | undefined>, wan: string[], exclude: string[] = []): string {
  const names = wan.length > 0 ? wan : Object.keys(ifs).filter((n) => !exclude.includes(n) && (ifs[n] ?? []).some((a) => !a.internal));
  return [...names].sort().map((w) => `${w}=${(ifs[w] ?? []).map((a) => a.address).sort().join(',')}`).join(';');
}

/**
 * The router's own UDP ports the NAT rules must keep as they are: the mesh port when this router is a
 * mesh node (issue 18, "make the own NAT easy first"). `nat.scope.sources` names LAN hosts, and what the
 * router sends from its own WAN address matches none of them; a router whose own NAT picks a port per
 * destination would make its mesh socket look hard to every peer.
 */
export function ownNatPorts(config: Config): number[] {
  // Port 0 = a port the OS picks at start: not known when the rules are made (a fixed wg.listenPort is).
  return config.mesh.enabled && config.wg.listenPort > 0 ? [config.wg.listenPort] : [];
}

export function natComponent(config: Config, deps: ServiceDeps): Component {
  let cancel: CancelTimer | undefined;
  let last = '';
  let lastResult = 'not applied';
  let applies = 0;
  const ownPorts = ownNatPorts(config);
  const fingerprint = () => wanFingerprint(networkInterfaces(), config.nat.wan, [config.wg.interface]);
  const apply = async () => {
    applies++;
    try {
      const [{ NatApplier }, { processRunner }, { backendFor, generateFor }] = await Promise.all([import('../fw/nat/applier.ts'), import('../fw/nat/runner.ts'), import('../fw/nat/session.ts')]);
      const run = processRunner();
      const gen = await generateFor(config.nat, { ownPorts }, run);
      const applier = new NatApplier({ backend: backendFor(gen.backend, gen.target, run), stateDir: join(config.stateDir ?? deps.stateDir, 'nat'), clock: deps.clock });
      // The service re-applies rules already confirmed by a person (config): no grace period here.
      const r = await applier.apply(gen.text, { confirmMs: 0 });
      lastResult = `${r.outcome}: ${r.reason}`;
      deps.log.info({ target: gen.target, outcome: r.outcome, applies }, 'nat: rules applied');
    } catch (err) {
      lastResult = `failed: ${(err as Error).message}`;
      deps.log.error({ err: (err as Error).message }, 'nat: apply failed');
    }
  };
  const poll = () => {
    cancel = deps.clock.setTimer(config.nat.pollSec * 1000, () => {
      const now = fingerprint();
      const changed = now !== last;
      if (changed) deps.log.info({ wan: now }, 'nat: WAN addresses changed, applying the rules again');
      last = now;
      void (changed ? apply() : Promise.resolve()).then(poll);
    });
  };
  return idempotent(
    'nat',
    async () => {
      last = fingerprint();
      await apply();
      poll();
    },
    async () => cancel?.(),
    () => ({ last: lastResult, applies, wan: last, ownPorts }),
  );
}

const NETCHECK_EVERY_MS = 10 * 60_000;

export function netcheckComponent(config: Config, deps: ServiceDeps): Component & { last(): { atWallMs: number; report: NetcheckReport } | undefined } {
  let cancel: CancelTimer | undefined;
  let report: NetcheckReport | undefined;
  let atWallMs = 0;
  let stopped = false;
  const once = async () => {
    try {
      const [{ buildReport }, { resolveEndpoint }, { observe }, { netcheckPortmapProbe }, { openDgramBind }] = await Promise.all([
        import('../netcheck/classify.ts'),
        import('../netcheck/resolve.ts'),
        import('../netcheck/run.ts'),
        import('../portmap/index.ts'),
        import('../stun/dgram-bind.ts'),
      ]);
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
      atWallMs = Date.now();
      deps.log.info({ summary: report.verdict.summary }, 'netcheck: done');
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'netcheck: failed');
    }
    if (!stopped) cancel = deps.clock.setTimer(NETCHECK_EVERY_MS, () => void once());
  };
  const c = idempotent(
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
  return { ...c, last: () => (report ? { atWallMs, report } : undefined) };
}

const IPS_CHECK_EVERY_MS = 10 * 60_000;

/**
 * The IPS check of the router the node runs on (appliances only: OPNsense, pfSense, UniFi), so a peer
 * relayed because WireGuard dies on the way gets this router's own finding in its reason (the rule and
 * its fix) instead of only the inference. Once at start, then every 10 min (rules change rarely).
 * The ips code is imported only on an appliance.
 */
export function ipsFindingComponent(config: Config, deps: ServiceDeps & { onFinding: (text: string | undefined) => void }): Component {
  let cancel: CancelTimer | undefined;
  let stopped = false;
  let finding: string | null = null;
  let checked = false;
  const once = async () => {
    try {
      const info = await detectPlatform(config.ips.root);
      if (info.kind !== 'opnsense' && info.kind !== 'pfsense' && info.kind !== 'unifi') return;
      const [{ checkIps }, { wireguardFinding }] = await Promise.all([import('../ips/check.ts'), import('../ips/mesh-finding.ts')]);
      const meshPorts = [...new Set([...config.ips.meshPorts, ...(config.wg.listenPort > 0 ? [config.wg.listenPort] : [])])];
      const text = wireguardFinding(await checkIps({ root: config.ips.root, meshPorts, relayPorts: config.ips.relayPorts }));
      checked = true;
      if ((text ?? null) !== finding) deps.log.info({ finding: text ?? null }, 'ips: what this router\'s IPS does to WireGuard');
      finding = text ?? null;
      deps.onFinding(text);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'ips: check failed');
    }
    if (!stopped) cancel = deps.clock.setTimer(IPS_CHECK_EVERY_MS, () => void once());
  };
  return idempotent(
    'ips',
    async () => {
      void once();
    },
    async () => {
      stopped = true;
      cancel?.();
    },
    () => ({ checked, wireguard: finding }),
  );
}
