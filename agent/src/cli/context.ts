/**
 * What every subcommand shares: finding and loading the config, printing results (human or --json),
 * and the logger. Subcommands throw ConegateError; main.ts maps codes to exit status.
 */
import { access } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfigFile, validateConfig, type Config } from '../config/load.ts';
import { detectPlatform } from '../platform/detect.ts';
import { createLogger, type Logger, type LogLevel } from '../log/logger.ts';

export interface GlobalOptions {
  config?: string;
  logLevel?: LogLevel;
}

export interface ResolvedConfig {
  config: Config;
  /** The file it came from, or undefined when no file exists and defaults are in force. */
  path: string | undefined;
}

/** --config, else CONEGATE_CONFIG, else the platform's default path; a missing default file means defaults. */
export async function resolveConfig(opts: GlobalOptions): Promise<ResolvedConfig> {
  const explicit = opts.config ?? process.env.CONEGATE_CONFIG;
  if (explicit) return { config: await loadConfigFile(explicit), path: explicit };
  const fallback = (await detectPlatform('/')).conegateConfig;
  try {
    await access(fallback);
  } catch {
    return { config: validateConfig({}), path: undefined };
  }
  return { config: await loadConfigFile(fallback), path: fallback };
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function loggerFor(opts: GlobalOptions, config?: Config): Logger {
  return createLogger({ level: opts.logLevel ?? config?.log.level });
}

/** Writes a result to stdout: JSON (one document, 2-space indent) or the human text. */
export function printResult(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human().replace(/\n?$/, '\n'));
}

/** Option parser for a whole number in min..max; commander names the option in its usage error (exit 2). */
export function integerArg(min: number, max: number): (value: string) => number {
  return (v) => {
    if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
    return Number(v);
  };
}
