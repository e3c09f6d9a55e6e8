/**
 * The config a host gets: the fleet's base config with the host's overrides deep-merged over it
 * (own form: defaults < groups < host; Ansible: the `conegate_config` variable after precedence),
 * checked against the agent's own config schema before anything is planned, and written as stable
 * JSON text (2-space indent, trailing newline) so the same inputs give the same bytes and the same
 * hash: that is what makes a second rollout "unchanged".
 */
import { ConegateError } from '../errors.ts';
import { validateConfig } from '../config/load.ts';
import { deepMerge } from './own-form.ts';
import type { FleetHost } from './types.ts';

export function renderHostConfig(base: Record<string, unknown>, host: FleetHost): string {
  const merged = deepMerge(base, host.config ?? {});
  try {
    validateConfig(merged, `config for ${host.name}`);
  } catch (e) {
    if (e instanceof ConegateError) throw new ConegateError(e.code, e.message, { cause: e, context: { ...e.context, host: host.name } });
    throw e;
  }
  return JSON.stringify(merged, null, 2) + '\n';
}
