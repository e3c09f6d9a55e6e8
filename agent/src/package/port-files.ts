/**
 * Reading the ports-style metadata the plugin folders keep: Makefile variables (`NAME=<tab>value`,
 * the only form they use) and a pkg-plist (paths relative to PREFIX, or absolute; %%DATADIR%% is
 * share/<PORTNAME>; `@dir` lines are directories the package owns, not files).
 */
import { ConegateError } from '../errors.ts';

export function parseMakeVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)\??=\s*(.*?)\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.replace(/\s*#.*$/, '');
  }
  return vars;
}

export function requireVar(vars: Record<string, string>, name: string, file: string): string {
  const v = vars[name];
  if (v === undefined || v === '') throw new ConegateError('CG_INPUT_INVALID', `${file}: ${name} is not set`);
  return v;
}

/** pkg-plist -> absolute file paths and owned directories. */
export function expandPlist(text: string, prefix: string, portName: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('@comment')) continue;
    const dir = /^@dir\s+(.+)$/.exec(line);
    const path = (dir ? dir[1]! : line).replace(/%%DATADIR%%/g, `share/${portName}`).replace(/%%PREFIX%%/g, prefix);
    if (/%%|^@/.test(path)) throw new ConegateError('CG_INPUT_INVALID', `pkg-plist: cannot expand "${line}"`);
    const abs = path.startsWith('/') ? path : `${prefix}/${path}`;
    (dir ? dirs : files).push(abs);
  }
  return { files, dirs };
}

/** "conegate>0:net/conegate www/node22>=22:www/node22" -> { conegate: net/conegate, ... } */
export function parseRunDepends(value: string): Record<string, { origin: string; version: string }> {
  const deps: Record<string, { origin: string; version: string }> = {};
  for (const item of value.split(/\s+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.+-]+?)(?:[<>=]+([0-9][^:]*))?:([a-z0-9-]+\/[A-Za-z0-9_.+-]+)$/.exec(item);
    if (!m) throw new ConegateError('CG_INPUT_INVALID', `RUN_DEPENDS: cannot read "${item}" (want name>version:category/port)`);
    deps[m[1]!] = { origin: m[3]!, version: m[2] ?? '0' };
  }
  return deps;
}
