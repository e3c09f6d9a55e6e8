/**
 * group_vars/ and host_vars/ beside the inventory (Ansible's host_group_vars plugin): for a group or
 * host NAME, the files NAME, NAME.yml, NAME.yaml, NAME.json, or a directory NAME/ whose files (no
 * extension or one of those; hidden and `~` backups skipped) load in lexicographic order, later keys
 * winning. Every file is YAML (JSON is YAML) and must hold a mapping.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { inventoryError } from './ini.ts';
import type { InventoryModel, Vars } from './model.ts';
import type { VarFiles } from './resolve.ts';
import { jsonOf, lineOf, parseYamlSource } from './yaml-inventory.ts';

const EXTS = ['', '.yml', '.yaml', '.json'];

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

async function dirFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const full = join(dir, name);
    const k = await kind(full);
    if (k === 'dir') out.push(...(await dirFiles(full)));
    else if (k === 'file' && EXTS.includes(extname(name))) out.push(full);
  }
  return out;
}

/** The files that hold variables for NAME under base (group_vars or host_vars), in load order. */
export async function varFilesFor(base: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const ext of EXTS) {
    const p = join(base, name + ext);
    const k = await kind(p);
    if (k === 'file') out.push(p);
    else if (k === 'dir' && ext === '') out.push(...(await dirFiles(p)));
  }
  return out;
}

/** Parses one vars file: a mapping, or empty. */
export function parseVarsFile(text: string, file: string): Vars {
  const src = parseYamlSource(text, file);
  const value: unknown = jsonOf(src);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw inventoryError(file, lineOf(src, src.doc.contents), 'a variables file must hold a mapping');
  return value as Vars;
}

async function loadAll(base: string, names: Iterable<string>): Promise<Map<string, Vars>> {
  const out = new Map<string, Vars>();
  if ((await kind(base)) !== 'dir') return out;
  for (const name of names) {
    const files = await varFilesFor(base, name);
    if (files.length === 0) continue;
    const vars: Vars = {};
    for (const f of files) Object.assign(vars, parseVarsFile(await readFile(f, 'utf8'), f));
    out.set(name, vars);
  }
  return out;
}

/** group_vars/ and host_vars/ in dir for every group and host of the inventory. */
export async function loadVarFiles(dir: string, m: InventoryModel): Promise<VarFiles> {
  return {
    groups: await loadAll(join(dir, 'group_vars'), m.groups.keys()),
    hosts: await loadAll(join(dir, 'host_vars'), m.hosts.keys()),
  };
}
