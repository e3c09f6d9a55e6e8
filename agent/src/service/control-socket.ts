/**
 * The control socket path from a config file's parsed JSON, without the config schema: `status`, `down`
 * and `logout` need this one path and should start fast (agent/src/cli/commands/client.ts). The same rule
 * as `controlSocketOf` (paths.ts): mesh.controlSocket, else <mesh.stateDir or stateDir>/conegate.sock,
 * else the system's run dir. Undefined when a field it reads is present but not a non-empty string (or
 * the file is not an object): the caller then loads the config with the schema for the exact error.
 */
import { join } from 'node:path';

export const DEFAULT_CONTROL_SOCKET = '/var/run/conegate/conegate.sock';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown): v is string | undefined => v === undefined || (typeof v === 'string' && v.length > 0);

/** `stateDirFlag`: `--state-dir`, which stands for mesh.stateDir. */
export function controlSocketFromRaw(raw: unknown, stateDirFlag?: string): string | undefined {
  if (!isObj(raw)) return undefined;
  const mesh = raw.mesh ?? {};
  if (!isObj(mesh)) return undefined;
  const { controlSocket, stateDir } = mesh;
  const top = raw.stateDir;
  if (!optString(controlSocket) || !optString(stateDir) || !optString(top) || !optString(stateDirFlag)) return undefined;
  if (controlSocket) return controlSocket;
  const dir = stateDirFlag ?? stateDir ?? top;
  return dir ? join(dir, 'conegate.sock') : DEFAULT_CONTROL_SOCKET;
}
