/**
 * The one JSON config file, as a JSON Schema. Each area owns its section in sections/<area>.ts;
 * this file only assembles them. Unknown keys are errors everywhere (additionalProperties: false),
 * and every default lives in the schema so `conegate config show` prints the effective config.
 */
import { logSchema } from './sections/log.ts';
import { pmpSchema } from './sections/pmp.ts';
import { natSchema } from './sections/nat.ts';
import { netcheckSchema } from './sections/netcheck.ts';
import { portmapSchema } from './sections/portmap.ts';
import { ipsSchema } from './sections/ips.ts';
import { wgSchema } from './sections/wg.ts';
import { meshSchema } from './sections/mesh.ts';
import { webSchema } from './sections/web.ts';

export const configSchema = {
  $id: 'https://conegate.invalid/schema/config.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    stateDir: { type: 'string', minLength: 1, description: 'Directory for persistent state (default per platform).' },
    log: { ...logSchema, default: {} },
    pmp: { ...pmpSchema, default: {} },
    nat: { ...natSchema, default: {} },
    netcheck: { ...netcheckSchema, default: {} },
    portmap: { ...portmapSchema, default: {} },
    ips: { ...ipsSchema, default: {} },
    wg: { ...wgSchema, default: {} },
    mesh: { ...meshSchema, default: {} },
    web: { ...webSchema, default: {} },
  },
} as const;
