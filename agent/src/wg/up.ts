/**
 * Plain WireGuard mode (`conegate wg up`): TUN + addresses/routes, UDP bind, Device, UAPI socket, in one
 * object with an idempotent stop() that undoes all of it in reverse order. The CLI runs it in the
 * foreground until SIGINT/SIGTERM; tests and the benchmark drive it directly.
 */
import { lookup } from 'node:dns/promises';
import { realClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { parseIp } from '../net/ip.ts';
import { applyPlan, planFor } from '../tun/ifconfig.ts';
import { openTun } from '../tun/open.ts';
import { DEFAULT_TUN_MTU, type TunDevice } from '../tun/tun.ts';
import { DgramBind } from './bind/dgram.ts';
import type { WgUpConfig, WgUpPeer } from './conf/conf.ts';
import { createDevice } from './device.ts';
import type { Device, PeerConfig } from './types.ts';
import { DeviceUapiHost } from './uapi/host.ts';
import { UapiServer } from './uapi/server.ts';

export interface WgUpOptions {
  /** Interface name (max 15 bytes). */
  name: string;
  /** UAPI socket directory (default /var/run/wireguard). */
  uapiDir?: string;
  log: Logger;
  /** Open the TUN (default: the platform's); tests pass a memory TUN. */
  openTun?: (name: string, mtu: number) => TunDevice;
  /** Skip `ip`/`ifconfig` (with a memory TUN). */
  skipIfconfig?: boolean;
}

export interface WgUp {
  readonly name: string;
  readonly device: Device;
  readonly bind: DgramBind;
  readonly tun: TunDevice;
  readonly uapi: UapiServer;
  stop(): Promise<void>;
}

/** Resolves an Endpoint host (IP literal or name) to an address, as wg-quick does once at start. */
async function resolveEndpoint(ep: NonNullable<WgUpPeer['endpoint']>): Promise<{ address: string; port: number }> {
  if (parseIp(ep.host)) return { address: ep.host, port: ep.port };
  try {
    const { address } = await lookup(ep.host);
    return { address, port: ep.port };
  } catch (cause) {
    throw new ConegateError('CG_NETWORK', `cannot resolve endpoint ${ep.host}`, { cause });
  }
}

/** Routes for a peer's allowed IPs; default routes are left out (see README-edge.md: no policy routing). */
export function routesFor(config: WgUpConfig): string[] {
  return config.peers.flatMap((p) => p.allowedIps).filter((r) => !/\/0$/.test(r));
}

export async function wgUp(config: WgUpConfig, options: WgUpOptions): Promise<WgUp> {
  const { log, name } = options;
  const mtu = config.mtu ?? DEFAULT_TUN_MTU;
  const peers: PeerConfig[] = [];
  for (const p of config.peers) {
    peers.push({
      publicKey: p.publicKey,
      ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
      ...(p.endpoint ? { endpoint: await resolveEndpoint(p.endpoint) } : {}),
      allowedIps: p.allowedIps,
      ...(p.persistentKeepaliveSec ? { persistentKeepaliveSec: p.persistentKeepaliveSec } : {}),
    });
  }
  const undo: (() => Promise<void> | void)[] = [];
  const unwind = async () => {
    for (const fn of undo.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    undo.length = 0;
  };
  try {
    const tun = options.openTun ? options.openTun(name, mtu) : openTun({ name, mtu });
    undo.push(() => tun.close());
    if (!options.skipIfconfig) await applyPlan(planFor({ name: tun.name, mtu, addresses: config.addresses, routes: routesFor(config) }));
    const bind = await DgramBind.open({ port: config.listenPort ?? 0 });
    undo.push(() => bind.close());
    const device = createDevice({ privateKey: config.privateKey, peers }, { clock: realClock, bind, tun, log });
    device.start();
    undo.push(() => device.stop());
    const uapi = await UapiServer.listen(tun.name, new DeviceUapiHost({ device, bind, privateKey: config.privateKey }), { dir: options.uapiDir, log });
    undo.push(() => uapi.close());
    log.info({ interface: tun.name, listenPort: bind.localPort, peers: peers.length, uapi: uapi.path }, 'wireguard interface up');
    let stopping: Promise<void> | undefined;
    return {
      name: tun.name,
      device,
      bind,
      tun,
      uapi,
      stop: () => (stopping ??= unwind()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
