/**
 * Reading and validating the config file. Every failure becomes a ConegateError whose message names
 * the field, the value and what was expected, e.g. `pmp.allow[0]: "10.0.0.1/8" is not a network in CIDR form …`.
 */
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConegateError } from '../errors.ts';
import { configSchema } from './schema.ts';
import { FORMATS } from './formats.ts';
import { formProblems } from './forms.ts';
import type { Config } from './types.ts';

export type { Config } from './types.ts';

/**
 * The config validator, compiled on first use: every command's module graph imports this file (the CLI
 * conventions do), and compiling at import cost `conegate status` ~100 ms of its ~230 ms though it never
 * reads the config through here. validateSchema off: the schema is a constant that
 * schemas-valid.test.ts checks against the meta-schema (compiling the meta-schema cost another ~50 ms).
 */
let compiled: ValidateFunction | undefined;
function configValidator(): ValidateFunction {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, validateSchema: false, strictTypes: false, allowUnionTypes: true });
  for (const [name, spec] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: spec.validate });
  compiled = ajv.compile(configSchema);
  return compiled;
}

/** `/pmp/allow/0` -> `pmp.allow[0]`; the root is `config`. */
export function fieldPath(pointer: string): string {
  if (pointer === '') return 'config';
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const part of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function describe(err: ErrorObject, data: unknown): string {
  const path = fieldPath(err.instancePath);
  const value = valueAt(data, err.instancePath);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `${path}: unknown key "${String(p.additionalProperty)}" (check the spelling; unknown keys are not ignored)`;
    case 'type':
      return `${path}: ${show(value)} is a ${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value}, expected ${String(p.type)}`;
    case 'format': {
      const spec = FORMATS[String(p.format)];
      return `${path}: ${show(value)} is not ${spec ? spec.expected : `a valid ${String(p.format)}`}`;
    }
    case 'enum':
      return `${path}: ${show(value)} is not one of ${(p.allowedValues as unknown[]).map(show).join(', ')}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${path}: ${show(value)} is out of range (must be ${String(p.comparison)} ${String(p.limit)})`;
    case 'required':
      return `${path}: missing required key "${String(p.missingProperty)}"`;
    case 'pattern':
      return `${path}: ${show(value)} does not match ${String(p.pattern)}`;
    case 'minLength':
      return `${path}: must not be empty`;
    case 'uniqueItems':
      return `${path}: lists the same value twice`;
    default:
      return `${path}: ${err.message ?? 'is invalid'}`;
  }
}

/** Validates a parsed config object, filling in defaults; throws CG_CONFIG_INVALID listing every problem. */
export function validateConfig(data: unknown, source = 'config'): Config {
  const copy: unknown = structuredClone(data);
  const validateSchema = configValidator();
  const problems = validateSchema(copy) ? formProblems(copy as Config) : [...new Set((validateSchema.errors ?? []).map((e) => describe(e, copy)))];
  if (problems.length > 0) throw new ConegateError('CG_CONFIG_INVALID', `${source} is invalid:\n  ${problems.join('\n  ')}`, { context: { problems } });
  return copy as Config;
}

/** Reads, parses and validates a config file. */
export async function loadConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read config file ${path}: ${code}`, { cause, context: { path } });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_INVALID', `${path} is not valid JSON: ${(cause as Error).message}`, { cause, context: { path } });
  }
  return validateConfig(data, path);
}

export { hostProblems, type HostFacts } from './host-checks.ts';
