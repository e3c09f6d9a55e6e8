/**
 * Ansible INI inventories (lib/ansible/plugins/inventory/ini.py): lines before any section are
 * `ungrouped` hosts; `[g]` hosts, `[g:children]` child groups (which may be declared later, but must be
 * declared somewhere), `[g:vars]` one `key=value` a line; `;` and `#` start comments. Errors name the
 * file and line.
 */
import { ConegateError } from '../errors.ts';
import { expandHostPattern } from './hostrange.ts';
import { iniValue, shlexSplit } from './ini-values.ts';
import { addChild, addGroup, addHost, finishModel, newModel, type InventoryModel, type Vars } from './model.ts';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

export function inventoryError(file: string, line: number, message: string, cause?: unknown): ConegateError {
  return new ConegateError('CG_CONFIG_INVALID', `${file}:${line}: ${message}`, {
    context: { file, line },
    ...(cause === undefined ? {} : { cause }),
  });
}

interface Pending {
  line: number;
  state: 'vars' | 'children';
  parents: string[];
}

export function parseIniInventory(text: string, file: string): InventoryModel {
  const m = newModel(file);
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    try {
      const sec = SECTION.exec(line);
      if (sec) {
        group = sec[1]!;
        state = sec[2] ?? 'hosts';
        if (!['hosts', 'children', 'vars'].includes(state)) throw new Error(`section [${group}:${state}] has unknown type '${state}'`);
        openSection(m, pending, group, state, lineNo);
        continue;
      }
      if (line.startsWith('[') && line.endsWith(']')) throw new Error(`invalid section '${line}': no spaces are allowed in a section name`);
      if (state === 'hosts') parseHostLine(m, group, line);
      else if (state === 'vars') parseVarLine(m, group, line);
      else parseChildLine(m, pending, group, line, lineNo);
    } catch (e) {
      if (e instanceof ConegateError && /^.+:\d+: /.test(e.message)) throw e;
      throw inventoryError(file, lineNo, e instanceof Error ? e.message : String(e), e);
    }
  }
  for (const [name, p] of pending) {
    if (p.state === 'vars') throw inventoryError(file, p.line, `section [${name}:vars] is for group '${name}', which is never declared`);
    throw inventoryError(file, p.line, `section [${p.parents.at(-1)}:children] names group '${name}', which is never declared`);
  }
  return finishModel(m);
}

function openSection(m: InventoryModel, pending: Map<string, Pending>, group: string, state: string, lineNo: number): void {
  if (!m.groups.has(group)) {
    // [g] or [g:children] declares a group; [g:vars] alone does not (checked at the end).
    if (state === 'vars' && !pending.has(group)) pending.set(group, { line: lineNo, state: 'vars', parents: [] });
    addGroup(m, group);
  }
  const p = pending.get(group);
  if (p && state !== 'vars') {
    if (p.state === 'children') resolvePending(m, pending, group);
    else pending.delete(group);
  }
}

function resolvePending(m: InventoryModel, pending: Map<string, Pending>, group: string): void {
  for (const parent of pending.get(group)!.parents) {
    addChild(m, parent, group);
    if (pending.get(parent)?.state === 'children') resolvePending(m, pending, parent);
  }
  pending.delete(group);
}

function parseHostLine(m: InventoryModel, group: string, line: string): void {
  const tokens = shlexSplit(line);
  if (tokens.length === 0) return;
  const { names, port } = expandHostPattern(tokens[0]!);
  const vars: Vars = {};
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`expected key=value host variable, got '${t}'`);
    vars[t.slice(0, eq)] = iniValue(t.slice(eq + 1));
  }
  if (port !== undefined) vars.ansible_port = port;
  for (const name of names) addHost(m, group, name, vars);
}

function parseVarLine(m: InventoryModel, group: string, line: string): void {
  const eq = line.indexOf('=');
  if (eq < 0) throw new Error(`expected key=value, got '${line}'`);
  const key = line.slice(0, eq).trim();
  if (key === '') throw new Error(`expected key=value, got '${line}'`);
  addGroup(m, group).vars[key] = iniValue(line.slice(eq + 1).trim());
}

function parseChildLine(m: InventoryModel, pending: Map<string, Pending>, group: string, line: string, lineNo: number): void {
  const g = GROUP_NAME.exec(line);
  if (!g) throw new Error(`expected a group name, got '${line}'`);
  const child = g[1]!;
  if (m.groups.has(child)) {
    addChild(m, group, child);
    return;
  }
  const p = pending.get(child);
  if (p && p.state === 'children') p.parents.push(group);
  else pending.set(child, { line: lineNo, state: 'children', parents: [group] });
}
