/**
 * Ansible YAML inventories (lib/ansible/plugins/inventory/yaml.py): top-level keys are groups (`all`
 * included); a group is null or a mapping of `hosts` (host pattern -> vars or null), `children` (group
 * name -> group) and `vars`. Parsed as YAML 1.1 like Ansible's PyYAML, so `yes`/`on` are booleans.
 * Ansible only warns about a key other than hosts/children/vars and skips it; a skipped `host:` typo
 * would silently leave routers out of a rollout, so here it is an error naming the file and line.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { expandHostPattern } from './hostrange.ts';
import { inventoryError } from './ini.ts';
import { addChild, addGroup, addHost, finishModel, newModel, type InventoryModel, type Vars } from './model.ts';

export interface YamlSource {
  doc: Document;
  lines: LineCounter;
  file: string;
}

/** Parses YAML 1.1 text; syntax errors become CG_CONFIG_INVALID with file and line. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) throw inventoryError(file, err.linePos?.[0].line ?? 1, `YAML: ${err.message.split('\n')[0]}`);
  return { doc, lines, file };
}

/** toJSON of the document or a node; a YAML fault found only then (an alias to no anchor) names the line. */
export function jsonOf(src: YamlSource, node?: Node | null): unknown {
  try {
    return node ? node.toJSON() : src.doc.toJSON();
  } catch (e) {
    throw inventoryError(src.file, lineOf(src, node ?? src.doc.contents), `YAML: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

export function lineOf(src: YamlSource, node: unknown): number {
  const range = (node as Node | null)?.range;
  return range ? src.lines.linePos(range[0]).line : 1;
}

export function parseYamlInventory(text: string, file: string): InventoryModel {
  const src = parseYamlSource(text, file);
  return yamlInventoryFrom(src);
}

export function yamlInventoryFrom(src: YamlSource): InventoryModel {
  const m = newModel(src.file);
  const root = src.doc.contents;
  if (root === null) return finishModel(m);
  if (!isMap(root)) throw inventoryError(src.file, lineOf(src, root), 'an inventory must be a mapping of group names');
  for (const pair of root.items) parseGroup(src, m, keyText(src, pair.key), pair.value as Node | null);
  return finishModel(m);
}

function keyText(src: YamlSource, key: unknown): string {
  if (isScalar(key) && (typeof key.value === 'string' || typeof key.value === 'number')) return String(key.value);
  throw inventoryError(src.file, lineOf(src, key), 'expected a name here');
}

function parseGroup(src: YamlSource, m: InventoryModel, name: string, node: Node | null): void {
  addGroup(m, name);
  if (node === null || (isScalar(node) && node.value === null)) return;
  if (!isMap(node)) throw inventoryError(src.file, lineOf(src, node), `group '${name}' must be a mapping of hosts, children and vars`);
  for (const pair of node.items) {
    const section = keyText(src, pair.key);
    const value = pair.value as Node | null;
    if (value === null || (isScalar(value) && value.value === null)) continue;
    // yaml.py turns `hosts: name` (a bare string) into a one-entry mapping.
    const single = isScalar(value) && typeof value.value === 'string' ? String(value.value) : undefined;
    if (single === undefined && !isMap(value)) {
      throw inventoryError(src.file, lineOf(src, value), `'${section}' of group '${name}' must be a mapping`);
    }
    if (section === 'vars') {
      if (single !== undefined) throw inventoryError(src.file, lineOf(src, value), `'vars' of group '${name}' must be a mapping`);
      Object.assign(addGroup(m, name).vars, jsonOf(src, value) as Vars);
    } else if (section === 'children') {
      if (single !== undefined) {
        parseGroup(src, m, single, null);
        wrap(src, value, () => addChild(m, name, single));
      } else for (const c of (value as { items: { key: unknown; value: unknown }[] }).items) {
        const child = keyText(src, c.key);
        parseGroup(src, m, child, c.value as Node | null);
        wrap(src, c.key, () => addChild(m, name, child));
      }
    } else if (section === 'hosts') {
      if (single !== undefined) wrap(src, value, () => addPattern(m, name, single, {}));
      else for (const h of (value as { items: { key: unknown; value: unknown }[] }).items) {
        const hv = h.value as Node | null;
        const vars = hv === null || (isScalar(hv) && hv.value === null) ? {} : isMap(hv) ? (jsonOf(src, hv) as Vars) : undefined;
        if (vars === undefined) throw inventoryError(src.file, lineOf(src, hv), `variables of host '${keyText(src, h.key)}' must be a mapping`);
        wrap(src, h.key, () => addPattern(m, name, keyText(src, h.key), vars));
      }
    } else {
      throw inventoryError(src.file, lineOf(src, pair.key), `unexpected key '${section}' in group '${name}': only hosts, children and vars are valid`);
    }
  }
}

function addPattern(m: InventoryModel, group: string, pattern: string, vars: Vars): void {
  const { names, port } = expandHostPattern(pattern);
  const all = port === undefined ? vars : { ansible_port: port, ...vars };
  for (const n of names) addHost(m, group, n, all);
}

function wrap(src: YamlSource, node: unknown, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw inventoryError(src.file, lineOf(src, node), e instanceof Error ? e.message : String(e), e);
  }
}
