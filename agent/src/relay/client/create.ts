/**
 * The relay client with its real edges: dial (proxy, TLS, upgrade or WebSocket) and the HTTPS latency
 * probe. What the mesh node calls; tests of the logic use RelayClient with scripted edges instead.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { x25519Public } from '../../wg/x25519.ts';
import type { Clock } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { RelayClient } from './client.ts';
import { autoDialer, type RelayTransportKind } from './dial.ts';
import { relayProbe } from './probe.ts';
import { resolveProxy, type ProxySources } from './proxy.ts';

export interface RelayClientConfig {
  /** `mesh.proxy`: a proxy URL, "none", or absent (the environment decides). */
  proxy?: string;
  /** Force one transport (tests, or a network known to pass only WebSocket); default: upgrade, then WebSocket. */
  transport?: RelayTransportKind;
}

export interface RelayClientEdgeDeps {
  clock: Clock;
  log: Logger;
  /** The node's X25519 (WireGuard) private key: relays route by its public half. */
  nodeSecret: Uint8Array;
  env?: Record<string, string | undefined>;
  coordinatorReachable?: () => boolean;
}

export function createRelayClient(config: RelayClientConfig, deps: RelayClientEdgeDeps): RelayClient {
  const proxy: ProxySources = { ...(config.proxy !== undefined ? { config: config.proxy } : {}), env: deps.env ?? process.env };
  // A malformed proxy URL is a config error now, not a dial failure every few seconds later.
  resolveProxy('relay.invalid', 443, proxy);
  const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
  return new RelayClient({
    clock: deps.clock,
    log: deps.log,
    nodeSecret: deps.nodeSecret,
    nodePublic: x25519Public(deps.nodeSecret),
    randomBytes,
    random: Math.random,
    dial: autoDialer({ proxy, randomBytes, ...(config.transport ? { force: config.transport } : {}) }),
    probe: relayProbe(proxy),
    ...(deps.coordinatorReachable ? { coordinatorReachable: deps.coordinatorReachable } : {}),
  });
}
