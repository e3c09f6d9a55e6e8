/**
 * Loads an inventory file: our own form (top-level `conegateFleet`), an Ansible YAML inventory
 * (.yml/.yaml/.json), else Ansible INI; then group_vars/ and host_vars/ beside it, then flattens.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { ConegateError } from '../errors.ts';
import { parseIniInventory } from './ini.ts';
import type { InventoryModel } from './model.ts';
import { isOwnForm, ownFormInventory } from './own-form.ts';
import { resolveAll, type VarFiles } from './resolve.ts';
import type { FleetHost } from './types.ts';
import { loadVarFiles } from './var-files.ts';
import { jsonOf, parseYamlSource, yamlInventoryFrom } from './yaml-inventory.ts';

export interface Inventory {
  model: InventoryModel;
  files: VarFiles;
  hosts: FleetHost[];
}

/** Parses inventory text; the format follows the extension and, for YAML/JSON, the top-level key. */
export function parseInventoryText(text: string, file: string): InventoryModel {
  const ext = extname(file).toLowerCase();
  const looksYaml = ['.yml', '.yaml', '.json'].includes(ext);
  if (!looksYaml) return parseIniInventory(text, file);
  const src = parseYamlSource(text, file);
  return isOwnForm(jsonOf(src)) ? ownFormInventory(src) : yamlInventoryFrom(src);
}

export async function loadInventory(file: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read inventory ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e, context: { file } });
  }
  const model = parseInventoryText(text, file);
  const files = await loadVarFiles(dirname(file), model);
  return { model, files, hosts: resolveAll(model, files) };
}
