/**
 * The mesh node inside `conegate up`: the mesh UDP socket, the packet paths on it (agent/src/paths: the
 * router is the WireGuard device's Bind; every peer's endpoint is its virtual endpoint, and the path
 * engine decides direct or relayed per packet), the TUN, and the coordinator session whose map
 * configures the device's peers, the path engine and the relay link. With `mesh.udpRelay.enabled` it
 * also relays UDP for other pairs of nodes (agent/src/relay/udp, its own port) and advertises that.
 * - A peer removed from the map is removed from the device at once (its sessions go with it).
 * - When the coordinator is away the device keeps its peers and sessions (nothing is torn down).
 * - A revoked node removes every peer and stops its session.
 * `(config, deps) -> component`, start/stop idempotent; stop undoes everything in reverse order.
 */
import { hostname as osHostname, networkInterfaces } from 'node:os';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import type { MeshConfig, WgConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import { createDevice } from '../wg/device.ts';
import { keyFromHex, keyToHex } from '../wg/keys.ts';
import type { TunDevice } from '../wg/ports.ts';
import type { Device } from '../wg/types.ts';
import { DgramBind } from '../wg/bind/dgram.ts';
import { openTun } from '../tun/open.ts';
import { applyPlan, planFor } from '../tun/ifconfig.ts';
import type { MeshClock } from '../node/mesh-clock.ts';
import { MonitorWatch, type AddressWatch } from '../net/address-watch.ts';
import type { CoordApi } from '../node/coord-client.ts';
import { gatherEndpoints, type IfAddr } from '../node/endpoints.ts';
import type { NodeIdentity } from '../node/identity.ts';
import { desiredPeers, planPeerSteps, type AppliedPeer } from '../node/peers-plan.ts';
import { CoordSession } from '../node/session.ts';
import { MeshStun } from '../node/stun-endpoints.ts';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { NodePaths } from '../paths/node-paths.ts';
import { createRelayClient } from '../relay/client/create.ts';
import { advertisedAddress, createNodeUdpRelay, type NodeUdpRelay } from '../relay/udp/node-relay.ts';
import { parseHostPort } from '../net/ip.ts';
import type { NodeKeyHex, PathEngine, RelayLink } from '../paths/types.ts';
import { applyRoutes, routeChanges, routePlan } from './tun-routes.ts';
import { interfaceAddresses } from './subnet-router.ts';
import { peerStatus, type MeshStatus } from './mesh-status.ts';

export interface MeshNodeConfig {
  mesh: MeshConfig;
  wg: WgConfig;
  /** STUN servers asked from the mesh socket for the endpoint peers can reach (netcheck.stunServers). */
  stunServers?: string[];
  authKey: () => Promise<string | undefined>;
  /** Registration refused for good (bad auth key): the agent stops with this error. */
  onRefused?: (err: ConegateError) => void;
}

export interface MeshNodeDeps {
  log: Logger;
  clock: Clock;
  identity: NodeIdentity;
  api: CoordApi;
  /** Tests: a memory TUN and no `ip` commands. */
  openTun?: (name: string, mtu: number) => TunDevice;
  skipIfconfig?: boolean;
  interfaces?: () => Record<string, IfAddr[] | undefined>;
  includeLoopback?: boolean;
  /** The upstream port mapping's external endpoint, when port mapping runs. */
  portmapEndpoint?: () => string | undefined;
  /** The path engine (default: the discovery engine). */
  pathEngine?: () => PathEngine;
  /** The relay link (default: the relay client, through mesh.proxy or the environment's proxy). */
  relayLink?: () => RelayLink;
  /** The birthday executor, when one runs: takes the engine's `open-sockets`. */
  onOpenSockets?: (peer: NodeKeyHex, count: number) => void;
  /** The coordinator's time (the coordinator client keeps it): discovery messages are stamped with it. */
  meshClock?: MeshClock;
  /**
   * Address changes as they happen (default: the `ip monitor` / `route monitor` child; none when
   * skipIfconfig, as in tests): a link change re-reads the endpoints and re-runs STUN at once.
   */
  addressWatch?: AddressWatch | null;
}

const ENDPOINT_CHECK_MS = 30_000;
/** An address change comes as a burst of monitor lines (address, route, flags): read once after it. */
const ADDRESS_SETTLE_MS = 300;

export interface PeerPing {
  peer: string;
  nodeKey: string;
  address: string | null;
  pong: { kind: 'direct'; endpoint: string; rttMs: number } | { kind: 'udp-relay'; endpoint: string; node: string | null; rttMs: number } | { kind: 'tcp-relay'; region: string; rttMs: number } | null;
  path: MeshStatus['peers'][number]['path'];
  relay: MeshStatus['peers'][number]['relay'];
}

export class MeshNode {
  device: Device | undefined;
  session: CoordSession | undefined;
  bind: DgramBind | undefined;
  tun: TunDevice | undefined;
  paths: NodePaths | undefined;
  /** The UDP relay this node offers to other pairs (mesh.udpRelay.enabled). */
  udpRelay: NodeUdpRelay | undefined;
  private applied = new Map<string, AppliedPeer>();
  /** Prefixes routed into the TUN now. */
  private routes = new Set<string>();
  private stun: MeshStun | undefined;
  private addressesSet = false;
  private cancelEndpointTimer: CancelTimer | undefined;
  private cancelSettle: CancelTimer | undefined;
  private addressWatch: AddressWatch | undefined;
  private started = false;
  private chain: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(private readonly config: MeshNodeConfig, private readonly deps: MeshNodeDeps) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { wg } = this.config;
    const { log } = this.deps;
    this.bind = await DgramBind.open({ port: wg.listenPort });
    const tun = this.deps.openTun ? this.deps.openTun(wg.interface, wg.mtu) : openTun({ name: wg.interface, mtu: wg.mtu });
    this.tun = tun;
    const bind = this.bind;
    const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
    if (this.config.stunServers?.length) this.stun = new MeshStun(this.config.stunServers, (p, to) => bind.send(p, to), randomBytes, () => this.reportEndpoints());
    const paths = new NodePaths({
      clock: this.deps.clock,
      log,
      bind,
      disco: this.deps.identity.disco,
      nodeKey: keyToHex(this.deps.identity.node.publicKey),
      ...(this.deps.pathEngine ? { engine: this.deps.pathEngine() } : {}),
      relay: this.deps.relayLink ? this.deps.relayLink() : this.relayClient(),
      ...(this.stun ? { stun: this.stun } : {}),
      ...(this.deps.onOpenSockets ? { onOpenSockets: this.deps.onOpenSockets } : {}),
      onHomeRelay: (region) => this.session?.reportHomeRelay(region),
      randomBytes,
      wallMs: () => this.deps.meshClock?.nowMs() ?? Date.now(),
    });
    this.paths = paths;
    await this.startUdpRelay();
    // The router is the device's Bind: it owns the socket's receive side and demultiplexes it.
    this.device = createDevice({ privateKey: this.deps.identity.node.privateKey }, { clock: this.deps.clock, bind: paths.router, tun, log });
    this.device.start();
    if (!this.deps.skipIfconfig) await applyPlan(planFor({ name: tun.name, mtu: wg.mtu, addresses: wg.addresses, routes: [] }));
    this.session = new CoordSession(
      { hostname: this.config.mesh.hostname ?? shortHostname(), advertiseRoutes: this.config.mesh.advertiseRoutes, authKey: this.config.authKey },
      { api: this.deps.api, identity: this.deps.identity, clock: this.deps.clock, log },
      { map: () => this.queue(() => this.onMap()), revoked: () => this.queue(() => this.onRevoked()), refused: (err) => this.config.onRefused?.(err) },
    );
    this.session.start();
    const home = paths.relay?.home();
    if (home) this.session.reportHomeRelay(home);
    this.reportEndpoints();
    this.watchAddresses();
    log.info({ interface: tun.name, listenPort: bind.localPort, nodeKey: keyToHex(this.deps.identity.node.publicKey) }, 'mesh: node up');
  }

  private relayClient(): RelayLink {
    const { mesh } = this.config;
    return createRelayClient(mesh.proxy !== undefined ? { proxy: mesh.proxy } : {}, {
      clock: this.deps.clock,
      log: this.deps.log,
      nodeSecret: this.deps.identity.node.privateKey,
      // The home region stays put while the coordinator cannot tell peers about a new one.
      coordinatorReachable: () => this.session?.phase === 'streaming',
    });
  }

  private watchAddresses(): void {
    const watch = this.deps.addressWatch === undefined ? (this.deps.skipIfconfig ? null : new MonitorWatch({ log: this.deps.log, what: 'mesh' })) : this.deps.addressWatch;
    if (!watch) return;
    this.addressWatch = watch;
    watch.start(() => {
      this.cancelSettle?.();
      this.cancelSettle = this.deps.clock.setTimer(ADDRESS_SETTLE_MS, () => {
        this.cancelSettle = undefined;
        this.reportEndpoints();
      });
    });
  }

  /** The relay for other pairs, on its own port; a port that cannot be bound fails `up` with a clear error. */
  private async startUdpRelay(): Promise<void> {
    const c = this.config.mesh.udpRelay;
    if (!c.enabled) return;
    const relay = createNodeUdpRelay(c, {
      clock: this.deps.clock,
      discoPrivate: this.deps.identity.disco.privateKey,
      discoPublic: this.deps.identity.disco.publicKey,
      selfNodeKey: keyToHex(this.deps.identity.node.publicKey),
      publicEndpoint: () => {
        const hp = parseHostPort(this.udpRelayAdvert() ?? '');
        return hp ? { address: hp.host, port: hp.port } : { address: '0.0.0.0', port: relay.port() ?? c.port };
      },
    });
    await relay.start();
    this.udpRelay = relay;
    this.deps.log.info({ port: relay.port() }, 'mesh: UDP relay for other nodes listening');
  }

  /** What the endpoint report offers as our UDP relay: mesh.udpRelay.advertise, else the STUN-mapped IP. */
  private udpRelayAdvert(): string | undefined {
    if (!this.udpRelay) return undefined;
    const mapped = parseHostPort(this.stun?.endpoints()[0] ?? '');
    return advertisedAddress(this.config.mesh.udpRelay, mapped?.host);
  }

  /** Re-reads interfaces and the port mapping; the session sends only when the list changed. */
  reportEndpoints(): void {
    this.cancelEndpointTimer?.();
    if (!this.bind || !this.session) return;
    const eps = gatherEndpoints({
      interfaces: (this.deps.interfaces ?? networkInterfaces)() as Record<string, IfAddr[] | undefined>,
      port: this.bind.localPort,
      exclude: this.tun ? [this.tun.name] : [],
      includeLoopback: this.deps.includeLoopback ?? false,
      portmap: this.deps.portmapEndpoint?.(),
      stun: this.stun?.endpoints() ?? [],
    });
    this.session.reportEndpoints(eps, this.udpRelayAdvert());
    this.paths?.setSelf(eps);
    this.paths?.probeStun();
    this.cancelEndpointTimer = this.deps.clock.setTimer(ENDPOINT_CHECK_MS, () => this.reportEndpoints());
  }

  /** Map updates run one at a time, each against the newest map, so a slow `ip` call never reorders them. */
  private queue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: Error) => this.deps.log.error({ err: err.message }, 'mesh: applying the map failed'));
  }

  private async onMap(): Promise<void> {
    const device = this.device;
    const state = this.session?.map;
    if (!device || !this.tun || !state) return;
    if (!this.addressesSet && state.self.addresses.length > 0) {
      this.addressesSet = true;
      if (!this.deps.skipIfconfig) await applyPlan(planFor({ name: this.tun.name, mtu: this.config.wg.mtu, addresses: state.self.addresses, routes: [] })).catch((err: Error) => this.deps.log.error({ err: err.message }, 'mesh: cannot set the mesh addresses'));
    }
    const ownAddresses = [...state.self.addresses, ...interfaceAddresses((this.deps.interfaces ?? networkInterfaces)(), this.tun.name)];
    // Every peer's endpoint is its virtual endpoint: the path engine decides where packets go.
    const wanted = desiredPeers(state, { acceptRoutes: this.config.mesh.acceptRoutes, ownAddresses });
    this.paths?.setTunnelPrefixes(wanted.flatMap((d) => d.allowedIps));
    const virtual = this.paths?.applyMap(state);
    this.udpRelay?.onMap(state.peers.values());
    const desired = wanted.map((d) => ({ ...d, endpoint: virtual?.get(d.publicKeyHex) }));
    const steps = planPeerSteps(this.applied, desired);
    for (const step of steps) {
      if (step.op === 'remove') {
        device.removePeer(keyFromHex(step.publicKeyHex));
        this.deps.log.info({ nodeKey: step.publicKeyHex }, 'mesh: peer removed');
        this.applied.delete(step.publicKeyHex);
        continue;
      }
      const p = step.peer;
      device.upsertPeer({ publicKey: keyFromHex(p.publicKeyHex), allowedIps: p.allowedIps, replaceAllowedIps: true, ...(p.endpoint ? { endpoint: p.endpoint } : {}) });
      this.applied.set(p.publicKeyHex, { allowedIps: p.allowedIps, endpoint: p.endpoint });
    }
    if (steps.length) this.deps.log.info({ peers: this.applied.size, changed: steps.length }, 'mesh: peers updated');
    await this.syncRoutes();
  }

  /** Kernel routes into the TUN = the union of the peers' allowed IPs (tun-routes.ts routeChanges). */
  private async syncRoutes(): Promise<void> {
    const wanted = new Set([...this.applied.values()].flatMap((a) => a.allowedIps));
    const { add, del } = routeChanges(this.routes, wanted);
    this.routes = wanted;
    if (this.deps.skipIfconfig || !this.tun || (!add.length && !del.length)) return;
    const onError = (err: Error) => this.deps.log.warn({ err: err.message }, 'mesh: route change failed');
    // Deletes first, then adds, in one batch (one process on Linux).
    await applyRoutes([...routePlan('del', this.tun.name, del), ...routePlan('add', this.tun.name, add)], onError);
  }

  private async onRevoked(): Promise<void> {
    this.device?.removeAllPeers();
    this.deps.log.info({ removed: this.applied.size }, 'mesh: all peers removed');
    this.applied.clear();
    await this.syncRoutes();
  }

  /**
   * `conegate up --advertise-routes/--accept-routes` against the running agent: new advertised routes go
   * to the coordinator in one short request; accept-routes takes effect on the map this node holds.
   */
  async setRouting(change: { advertiseRoutes?: string[]; acceptRoutes?: boolean }): Promise<void> {
    if (change.acceptRoutes !== undefined && change.acceptRoutes !== this.config.mesh.acceptRoutes) {
      this.config.mesh = { ...this.config.mesh, acceptRoutes: change.acceptRoutes };
      this.queue(() => this.onMap());
    }
    if (change.advertiseRoutes !== undefined) {
      this.config.mesh = { ...this.config.mesh, advertiseRoutes: change.advertiseRoutes };
      await this.session?.setAdvertiseRoutes(change.advertiseRoutes);
    }
    await this.chain;
  }

  /** The health probe's unhealthy prefixes (service/route-health.ts) for the coordinator. */
  reportRouteHealth(unhealthy: string[]): void {
    this.session?.reportRouteHealth(unhealthy);
  }

  /** What this node advertises and whether it accepts routes, now. */
  routing(): { advertiseRoutes: string[]; acceptRoutes: boolean } {
    return { advertiseRoutes: this.config.mesh.advertiseRoutes, acceptRoutes: this.config.mesh.acceptRoutes };
  }

  status(): MeshStatus {
    return peerStatus(this.session, this.device?.peers() ?? [], {
      listenPort: this.bind?.localPort ?? 0,
      interface: this.tun?.name ?? '',
      demux: this.demuxCounts,
      identity: this.deps.identity,
      path: (key) => this.paths?.peerPath(key),
      relay: this.paths?.relayStatus(),
      ...(this.deps.meshClock ? { clock: this.deps.meshClock.status() } : {}),
      udpRelay: this.udpRelay ? { port: this.udpRelay.port() ?? null, advertised: this.udpRelayAdvert() ?? null, ...this.udpRelay.stats() } : undefined,
      udpRelayClient: this.paths?.udpRelay.counters(),
    });
  }

  /**
   * `conegate ping PEER`: one discovery ping on the path(s) the peer's packets take now. The answer names
   * the path that carried the pong (direct ip:port, UDP relay node, TCP relay region) and the peer's path
   * status (why relayed, why UDP or TCP relay); `pong` is null when nothing came back in time.
   */
  async pingPeer(target: string, timeoutMs: number): Promise<PeerPing> {
    const peers = [...(this.session?.map?.peers.values() ?? [])];
    const t = target.toLowerCase();
    const p = peers.find((x) => x.name.toLowerCase() === t || x.nodeKey === t || x.addresses.some((a) => a.split('/')[0] === t));
    if (!p || !this.paths) throw new ConegateError('CG_NOT_FOUND', `no peer ${JSON.stringify(target.slice(0, 64))} in the map (give a name, a mesh address or a node key; see conegate status)`);
    const r = await this.paths.ping(p.nodeKey, timeoutMs);
    const view = this.status().peers.find((x) => x.nodeKey === p.nodeKey);
    let pong: PeerPing['pong'] = null;
    if (r) {
      const v = r.via;
      const relayNode = v.kind === 'udp-relay' ? peers.find((x) => x.udpRelay === `${v.relay.address}:${v.relay.port}`)?.name ?? null : null;
      pong = v.kind === 'direct' ? { kind: 'direct', endpoint: `${v.endpoint.address}:${v.endpoint.port}`, rttMs: r.rttMs }
        : v.kind === 'udp-relay' ? { kind: 'udp-relay', endpoint: `${v.relay.address}:${v.relay.port}`, node: relayNode, rttMs: r.rttMs }
        : { kind: 'tcp-relay', region: v.region, rttMs: r.rttMs };
    }
    return { peer: p.name, nodeKey: p.nodeKey, address: p.addresses[0]?.split('/')[0] ?? null, pong, path: view?.path ?? null, relay: view?.relay ?? null };
  }

  get demuxCounts(): NodePaths['router']['counters']['demux'] {
    return this.paths?.router.counters.demux ?? { wg: 0, stun: 0, disco: 0, unknown: 0 };
  }

  /** `conegate logout`: leave every map, drop every peer; the machine key stays (register again with a key). */
  async logout(): Promise<void> {
    await this.deps.api.logout();
    await this.session?.stop();
    await this.onRevoked();
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.doStop());
  }

  private async doStop(): Promise<void> {
    this.cancelEndpointTimer?.();
    this.cancelSettle?.();
    this.addressWatch?.stop();
    await this.session?.stop();
    await this.chain;
    this.device?.stop();
    await this.paths?.close();
    await this.udpRelay?.stop();
    await this.bind?.close();
    await this.tun?.close();
    this.deps.log.info('mesh: node stopped');
  }
}

function shortHostname(): string {
  return (osHostname().split('.')[0] ?? 'node').replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63) || 'node';
}
