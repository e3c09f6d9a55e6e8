/**
 * Errors are values with a stable code a program can branch on and a message a person can act on.
 * The CLI maps codes to exit status in one table (EXIT_STATUS below); the GUI will map them to HTTP status.
 * Never identify an error by its message text: compare `code`.
 */

/** Every error code conegate raises. Add new codes here, grouped by area. */
export type CgCode =
  // usage and configuration (exit 2)
  | 'CG_USAGE'
  | 'CG_CONFIG_INVALID'
  | 'CG_CONFIG_UNREADABLE'
  | 'CG_INPUT_INVALID'
  // operation failures (exit 1)
  | 'CG_PLATFORM_UNKNOWN'
  | 'CG_NOT_PERMITTED'
  | 'CG_PEER_MISSING'
  | 'CG_COMMAND_FAILED'
  | 'CG_TIMEOUT'
  | 'CG_FIREWALL_REJECTED'
  | 'CG_FIREWALL_ROLLED_BACK'
  | 'CG_NETWORK'
  | 'CG_STATE_CORRUPT'
  | 'CG_UNSUPPORTED'
  | 'CG_BUSY'
  | 'CG_NOTHING_PENDING'
  | 'CG_ANCHOR_UNREFERENCED'
  | 'CG_COORD_REFUSED'
  | 'CG_NOT_RUNNING'
  | 'CG_NOT_FOUND'
  | 'CG_STORE_FAILED'
  | 'CG_RELAY_REFUSED'
  | 'CG_PROXY_REFUSED'
  | 'CG_RELAY_KEY_MISMATCH'
  | 'CG_BIRTHDAY_REFUSED'
  // fleet SSH edge (exit 1): host key trust, login, a session that went away
  | 'CG_HOST_KEY_CHANGED'
  | 'CG_HOST_KEY_UNKNOWN'
  | 'CG_HOST_KEY_REVOKED'
  | 'CG_AUTH_FAILED'
  | 'CG_CONNECTION_LOST'
  | 'CG_HEALTH_GATE_FAILED'
  | 'CG_PACKAGE_MISSING'
  | 'CG_INTERNAL';

export interface ErrorContext {
  [key: string]: unknown;
}

export class ConegateError extends Error {
  override readonly name: string = 'ConegateError';
  readonly code: CgCode;
  readonly context: ErrorContext;

  constructor(code: CgCode, message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** A packet or file could not be decoded. Decoders throw only this; `reason` is a short stable phrase. */
export class DecodeError extends ConegateError {
  override readonly name = 'DecodeError';
  readonly reason: string;
  constructor(reason: string, context: ErrorContext = {}) {
    super('CG_INPUT_INVALID', `cannot decode: ${reason}`, { context });
    this.reason = reason;
  }
}

/** Exit status for a code: 2 = the user must fix the invocation or config, 1 = the operation failed. */
export const EXIT_STATUS: Record<CgCode, 1 | 2> = {
  CG_USAGE: 2,
  CG_CONFIG_INVALID: 2,
  CG_CONFIG_UNREADABLE: 2,
  CG_INPUT_INVALID: 2,
  CG_PLATFORM_UNKNOWN: 1,
  CG_NOT_PERMITTED: 1,
  CG_PEER_MISSING: 1,
  CG_COMMAND_FAILED: 1,
  CG_TIMEOUT: 1,
  CG_FIREWALL_REJECTED: 1,
  CG_FIREWALL_ROLLED_BACK: 1,
  CG_NETWORK: 1,
  CG_STATE_CORRUPT: 1,
  CG_UNSUPPORTED: 1,
  CG_BUSY: 1,
  CG_NOTHING_PENDING: 1,
  CG_ANCHOR_UNREFERENCED: 1,
  CG_COORD_REFUSED: 1,
  CG_NOT_RUNNING: 1,
  CG_NOT_FOUND: 1,
  CG_STORE_FAILED: 1,
  CG_RELAY_REFUSED: 1,
  CG_PROXY_REFUSED: 1,
  CG_RELAY_KEY_MISMATCH: 1,
  CG_BIRTHDAY_REFUSED: 1,
  CG_HOST_KEY_CHANGED: 1,
  CG_HOST_KEY_UNKNOWN: 1,
  CG_HOST_KEY_REVOKED: 1,
  CG_AUTH_FAILED: 1,
  CG_CONNECTION_LOST: 1,
  CG_HEALTH_GATE_FAILED: 1,
  CG_PACKAGE_MISSING: 2,
  CG_INTERNAL: 1,
};

export function isConegateError(err: unknown): err is ConegateError {
  return err instanceof ConegateError;
}

/** Exit status for any thrown value: ours by table, anything else is an internal failure (1). */
export function exitStatusOf(err: unknown): 1 | 2 {
  return isConegateError(err) ? EXIT_STATUS[err.code] : 1;
}
