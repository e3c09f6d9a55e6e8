/**
 * Our own inventory form (JSON or YAML), for teams without Ansible: schema-validated, with a platform
 * and conegate config overrides per host. Recognised by the top-level key `conegateFleet: 1`.
 *   conegateFleet: 1
 *   defaults: { user, port, keyFile, platform, vars, config }
 *   groups:   { NAME: { children: [NAME], vars, config } }
 *   hosts:    [ { name, address, port, user, keyFile, platform, groups: [NAME], vars, config } ]
 * Config overrides deep-merge: defaults.config < each group's config (in the host's `groups` order)
 * < the host's own config. Connection fields become the ansible_* variables, so patterns, group_vars/
 * and host_vars/ work the same as with an Ansible inventory.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { inventoryError } from './ini.ts';
import { addChild, addGroup, addHost, finishModel, newModel, type InventoryModel, type Vars } from './model.ts';
import { jsonOf, lineOf, type YamlSource } from './yaml-inventory.ts';

const NAME = { type: 'string', minLength: 1, pattern: '^[^\\s:\\[\\],&!~*]+$' } as const;
const OBJECT = { type: 'object' } as const;
const PLATFORM = { enum: ['opnsense', 'pfsense', 'unifi', 'linux', 'auto'] } as const;
const CONNECTION = {
  user: { type: 'string', minLength: 1 },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  keyFile: { type: 'string', minLength: 1 },
  platform: PLATFORM,
  vars: OBJECT,
  config: OBJECT,
} as const;

export const fleetInventorySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['conegateFleet', 'hosts'],
  properties: {
    conegateFleet: { const: 1, description: 'format version' },
    defaults: { type: 'object', additionalProperties: false, properties: CONNECTION },
    groups: {
      type: 'object',
      propertyNames: NAME,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { children: { type: 'array', items: NAME, uniqueItems: true }, vars: OBJECT, config: OBJECT },
      },
    },
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: NAME, address: { type: 'string', minLength: 1 }, groups: { type: 'array', items: NAME, uniqueItems: true }, ...CONNECTION },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(fleetInventorySchema);

interface OwnHost {
  name: string;
  address?: string;
  groups?: string[];
  user?: string;
  port?: number;
  keyFile?: string;
  platform?: 'opnsense' | 'pfsense' | 'unifi' | 'linux' | 'auto';
  vars?: Vars;
  config?: Vars;
}
interface OwnForm {
  defaults?: Omit<OwnHost, 'name' | 'address' | 'groups'>;
  groups?: Record<string, { children?: string[]; vars?: Vars; config?: Vars }>;
  hosts: OwnHost[];
}

export function isOwnForm(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'conegateFleet' in value;
}

function connectionVars(c: Omit<OwnHost, 'name' | 'groups'>): Vars {
  return {
    ...(c.vars ?? {}),
    ...(c.address !== undefined ? { ansible_host: c.address } : {}),
    ...(c.port !== undefined ? { ansible_port: c.port } : {}),
    ...(c.user !== undefined ? { ansible_user: c.user } : {}),
    ...(c.keyFile !== undefined ? { ansible_ssh_private_key_file: c.keyFile } : {}),
  };
}

export function deepMerge(base: Vars, over: Vars): Vars {
  const out: Vars = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const bothObjects = [b, v].every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
    out[k] = bothObjects ? deepMerge(b as Vars, v as Vars) : v;
  }
  return out;
}

function schemaError(src: YamlSource, err: ErrorObject): never {
  const path = err.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  const node = src.doc.getIn(path, true);
  const where = err.instancePath || '(top level)';
  const extra = err.keyword === 'additionalProperties' ? ` '${String(err.params.additionalProperty)}'` : '';
  throw inventoryError(src.file, lineOf(src, node ?? src.doc.contents), `${where}: ${err.message ?? 'invalid'}${extra}`);
}

export function ownFormInventory(src: YamlSource): InventoryModel {
  const value: unknown = jsonOf(src);
  if (!validate(value)) schemaError(src, validate.errors![0]!);
  const form = value as unknown as OwnForm;
  const m = newModel(src.file);
  const d = form.defaults ?? {};
  Object.assign(addGroup(m, 'all').vars, connectionVars(d));
  for (const [name, g] of Object.entries(form.groups ?? {})) Object.assign(addGroup(m, name).vars, g.vars ?? {});
  for (const [name, g] of Object.entries(form.groups ?? {})) {
    for (const c of g.children ?? []) {
      if (!form.groups?.[c]) throw inventoryError(src.file, lineOf(src, src.doc.getIn(['groups', name, 'children'], true)), `group '${name}' names child '${c}', which is not in groups`);
      addChild(m, name, c);
    }
  }
  form.hosts.forEach((h, i) => {
    const at = lineOf(src, src.doc.getIn(['hosts', i], true));
    if (m.hosts.has(h.name)) throw inventoryError(src.file, at, `host '${h.name}' is listed twice`);
    const groups = h.groups ?? [];
    for (const g of groups) if (!form.groups?.[g]) throw inventoryError(src.file, at, `host '${h.name}' is in group '${g}', which is not in groups`);
    const def = addHost(m, groups[0] ?? 'ungrouped', h.name, connectionVars(h));
    for (const g of groups.slice(1)) addHost(m, g, h.name);
    let config = d.config ?? {};
    for (const g of groups) config = deepMerge(config, form.groups![g]!.config ?? {});
    def.config = deepMerge(config, h.config ?? {});
    const platform = h.platform ?? d.platform;
    if (platform) def.platform = platform;
  });
  return finishModel(m);
}
