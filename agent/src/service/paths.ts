/**
 * Where the agent keeps things: the state directory (identity keys, pmp state, nat history) and the
 * control socket. `up`, `status`, `down` and `logout` all resolve them here, from the same config,
 * so they always meet on the same socket.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.ts';
import { defaultStateDir } from '../fw/nat/session.ts';
import type { PlatformInfo } from '../platform/detect.ts';
import { DEFAULT_CONTROL_SOCKET } from './control-socket.ts';

export function stateDirOf(config: Config, kind: PlatformInfo['kind']): string {
  return config.mesh.stateDir ?? config.stateDir ?? defaultStateDir(kind);
}

/** An explicit state dir keeps its socket with it (several agents in a lab); else the system's run dir. */
export function controlSocketOf(config: Config): string {
  if (config.mesh.controlSocket) return config.mesh.controlSocket;
  const dir = config.mesh.stateDir ?? config.stateDir;
  return dir ? join(dir, 'conegate.sock') : DEFAULT_CONTROL_SOCKET;
}
