/**
 * The validated config, defaults filled in. Kept by hand beside the schema (sections/*.ts); the
 * config tests prove the schema's defaults produce an object of this shape.
 */
import type { LogConfig } from './sections/log.ts';
import type { MeshConfig } from './sections/mesh.ts';
import type { WebConfig } from './sections/web.ts';

export type { MeshConfig } from './sections/mesh.ts';
export type { WebConfig } from './sections/web.ts';

export interface PmpConfig {
  enabled: boolean;
  lan: string[];
  wan?: string;
  backend: 'auto' | 'nftables' | 'pf' | 'memory';
  allow: string[];
  internalPorts: string;
  externalPorts: string;
  allowPrivilegedPorts: boolean;
  reservedExternalPorts: number[];
  maxMappingsPerClient: number;
  maxMappings: number;
  maxLifetimeSec: number;
  minLifetimeSec: number;
  allowThirdParty: boolean;
  meshPortOnly: boolean;
  requestsPerClientPerSec: number;
  stateFile?: string;
}

export interface NatConfig {
  enabled: boolean;
  backend: 'auto' | 'pf' | 'nftables';
  mode: 'auto' | 'endpoint-independent' | 'static-port' | 'dynamic';
  wan: string[];
  scope: { sources: string[]; ports: string[] };
  pollSec: number;
  graceSec: number;
  healthCommand?: string;
  confirmSec: number;
}

export interface NetcheckConfig {
  stunServers: string[];
  timeoutMs: number;
}

export interface PortmapConfig {
  enabled: boolean;
  protocols: ('pcp' | 'natpmp' | 'upnp')[];
  gateway?: string;
  lifetimeSec: number;
  renewAfterSec?: number;
  probeTimeoutMs: number;
  announcements: boolean;
}

export interface IpsConfig {
  root: string;
  meshPorts: number[];
  relayPorts: number[];
}

export interface WgConfig {
  interface: string;
  listenPort: number;
  privateKeyFile?: string;
  addresses: string[];
  mtu: number;
}

export interface Config {
  stateDir?: string;
  log: LogConfig;
  pmp: PmpConfig;
  nat: NatConfig;
  netcheck: NetcheckConfig;
  portmap: PortmapConfig;
  ips: IpsConfig;
  wg: WgConfig;
  mesh: MeshConfig;
  web: WebConfig;
}
