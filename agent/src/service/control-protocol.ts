/**
 * The control socket's protocol: one JSON object per line each way. A request names a command and
 * may carry an id the answer repeats; each command has its own JSON Schema (no extra keys), so a bad
 * request gets an error answer naming what was wrong, never a crash or a half-done action.
 *
 *   -> {"id":1,"cmd":"status"}
 *   <- {"id":1,"ok":true,"result":{...}}
 *   <- {"id":1,"ok":false,"error":{"code":"CG_INPUT_INVALID","message":"..."}}
 */
import { Ajv } from 'ajv';
import { ConegateError } from '../errors.ts';

export const CONTROL_COMMANDS = ['status', 'down', 'logout', 'pmp-list', 'ping', 'set-routes', 'ping-peer', 'page', 'pmp-delete', 'settings-get', 'settings-set', 'nat-apply', 'nat-confirm', 'nat-revert'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

export interface ControlRequest {
  id?: number;
  cmd: ControlCommand;
  /** Only for commands whose schema has them (set-routes). */
  advertiseRoutes?: string[];
  acceptRoutes?: boolean;
  /** ping-peer: the peer (name, mesh address or node key) and how long to wait for its pong. */
  peer?: string;
  timeoutMs?: number;
  /** pmp-delete: which mapping (the page's id is `${client}/${protocol}/${internalPort}`). */
  client?: string;
  protocol?: 'udp' | 'tcp';
  internalPort?: number;
  /** settings-set: the whole config, validated by the config file's schema in the agent. */
  config?: Record<string, unknown>;
  /** nat-apply: grace period (default nat.confirmSec). */
  confirmSeconds?: number;
}

/** The parameters a command takes besides id and cmd (none unless listed). */
const PARAMS: Partial<Record<ControlCommand, Record<string, unknown>>> = {
  // `conegate up --advertise-routes/--accept-routes` against the running agent; prefixes are checked by the agent.
  'set-routes': {
    advertiseRoutes: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 } },
    acceptRoutes: { type: 'boolean' },
  },
  // `conegate ping PEER`: one discovery ping on the path the peer's packets take now.
  'ping-peer': {
    peer: { type: 'string', minLength: 1, maxLength: 128 },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 10_000 },
  },
  // The page's commands (issue 19); the appliance pages send them through `conegate control JSON`.
  'pmp-delete': {
    client: { type: 'string', minLength: 7, maxLength: 15, pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' },
    protocol: { enum: ['udp', 'tcp'] },
    internalPort: { type: 'integer', minimum: 1, maximum: 65535 },
  },
  // The config itself is checked by the config file's own schema (config/load.ts), which names the field.
  'settings-set': { config: { type: 'object' } },
  'nat-apply': { confirmSeconds: { type: 'integer', minimum: 10, maximum: 3600 } },
};

/** Parameters a command cannot do without. */
const REQUIRED: Partial<Record<ControlCommand, string[]>> = {
  'pmp-delete': ['client', 'protocol', 'internalPort'],
  'settings-set': ['config'],
  'ping-peer': ['peer'],
};

export type ControlResponse = { id?: number; ok: true; result: unknown } | { id?: number; ok: false; error: { code: string; message: string } };

/** Longest request line the server reads; requests are tiny, so anything longer is abuse or a bug. */
export const MAX_REQUEST_BYTES = 16 * 1024;

const idSchema = { type: 'integer', minimum: 0, maximum: 2 ** 31 } as const;
/** The JSON Schema of one command's request line. */
export function controlRequestSchema(cmd: ControlCommand): object {
  return { type: 'object', additionalProperties: false, required: ['cmd', ...(REQUIRED[cmd] ?? [])], properties: { id: idSchema, cmd: { const: cmd }, ...PARAMS[cmd] } };
}

// validateSchema off: checking our own constant schemas against the meta-schema cost every agent start
// ~50 ms per Ajv instance; schemas-valid.test.ts checks them once instead.
const ajv = new Ajv({ strict: true, validateSchema: false });
const validators = Object.fromEntries(CONTROL_COMMANDS.map((cmd) => [cmd, ajv.compile(controlRequestSchema(cmd))])) as Record<ControlCommand, ReturnType<typeof ajv.compile>>;

/** Parses one request line; throws ConegateError CG_INPUT_INVALID with what was wrong. */
export function parseControlRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ConegateError('CG_INPUT_INVALID', 'request is not JSON');
  }
  const cmd = (v as { cmd?: unknown } | null)?.cmd;
  if (typeof cmd !== 'string' || !(CONTROL_COMMANDS as readonly string[]).includes(cmd)) {
    throw new ConegateError('CG_INPUT_INVALID', `unknown command ${JSON.stringify(cmd)?.slice(0, 40) ?? 'none'} (have: ${CONTROL_COMMANDS.join(', ')})`);
  }
  const validate = validators[cmd as ControlCommand];
  if (!validate(v)) {
    const e = validate.errors?.[0];
    throw new ConegateError('CG_INPUT_INVALID', `${cmd}: ${e?.instancePath || 'request'} ${e?.message ?? 'is invalid'}${e?.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
  }
  return v as ControlRequest;
}
