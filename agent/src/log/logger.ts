/**
 * Logging with pino. JSON lines on stderr by default (stdout carries command output and --json);
 * a short human format when stderr is a terminal. No worker-thread transports: appliances are small.
 * Secrets never reach a log line: every object logged is walked and values under secret-looking keys
 * are replaced, whatever their depth, so a new field called `privateKey` is safe without a config change.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Key names whose values are secrets: WireGuard private/preshared keys, auth keys, tokens, passwords. */
const SECRET_KEY = /(private|secret|preshared|psk|password|passwd|token|auth_?key|authkey|apikey|api_key)/i;
export const REDACTED = '[redacted]';

/** Returns a copy of value with secret-looking keys replaced; cycles and depth are bounded. */
export function redactSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8 || seen.has(value)) return '[elided]';
  seen.add(value);
  if (value instanceof Error) return { type: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1, seen));
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v, depth + 1, seen);
  }
  return out;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Force the human format (default: when stderr is a TTY). */
  pretty?: boolean;
  /** Where lines go; default stderr. Tests pass a collecting stream. */
  destination?: DestinationStream;
  name?: string;
}

/** Level from, in order: explicit option, CONEGATE_LOG_LEVEL, 'info'. */
export function resolveLevel(level?: string): LogLevel {
  const wanted = level ?? process.env.CONEGATE_LOG_LEVEL ?? 'info';
  return (LOG_LEVELS as readonly string[]).includes(wanted) ? (wanted as LogLevel) : 'info';
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const sink = options.destination ?? (pretty ? humanStream(process.stderr) : stderrStream());
  return pino(
    {
      name: options.name ?? 'conegate',
      level: resolveLevel(options.level),
      base: undefined,
      // Objects are redacted on the way in, and every finished line once more on the way out:
      // child-logger bindings are serialised by pino outside formatters.log and would slip past it.
      formatters: { log: (obj) => redactSecrets(obj) as Record<string, unknown> },
    },
    redactingStream(sink),
  );
}

/** Re-checks each finished JSON line; only lines that carry a secret-looking key are rewritten. */
function redactingStream(sink: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      if (!SECRET_KEY.test(line)) return sink.write(line);
      try {
        sink.write(JSON.stringify(redactSecrets(JSON.parse(line))) + '\n');
      } catch {
        sink.write('{"msg":"log line dropped: could not be redacted"}\n');
      }
    },
  };
}

function stderrStream(): DestinationStream {
  // stderr writes are synchronous for files and pipes on Linux and FreeBSD, so nothing is lost on exit.
  return { write: (s: string) => void process.stderr.write(s) };
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** A tiny synchronous human formatter: "15:04:05 INFO  message key=value …". */
function humanStream(out: NodeJS.WriteStream): DestinationStream {
  return {
    write(line: string) {
      try {
        const { level, time, msg, name: _name, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const clock = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 19);
        const fields = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(`${clock} ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${fields ? ' ' + fields : ''}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
