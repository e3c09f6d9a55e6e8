/**
 * The page's settings (control commands settings-get, settings-set): the whole config, validated by
 * the same JSON Schema and form checks as the config file (config/load.ts), so a refusal names the
 * field exactly as `conegate config validate` would. A valid config is written atomically to the
 * agent's config file, then each changed field is applied live where the agent can, else listed in
 * restartNeeded (the page shows "pending, restart needed").
 *
 * Applied live (LIVE_FIELDS), because the running code reads them at use time or has a call to change
 * them: log.level (the logger's level), mesh.advertiseRoutes and mesh.acceptRoutes (the same path as
 * `conegate up --advertise-routes` against a running agent), nat.confirmSec (the next nat-apply) and
 * web.allowedHosts (the next request's Host check). Everything else (sockets, interfaces, the
 * coordinator, the router services' own settings) is read once at start: restart needed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { validateConfig, type Config } from '../config/load.ts';
import { ConegateError } from '../errors.ts';
import { writeSecretFile } from '../secrets/file.ts';

export const LIVE_FIELDS = ['log.level', 'mesh.advertiseRoutes', 'mesh.acceptRoutes', 'nat.confirmSec', 'web.allowedHosts'] as const;
export type LiveField = (typeof LIVE_FIELDS)[number];

/** Leaf paths whose values differ ("pmp.allow", "mesh.udpRelay.port"); arrays compare whole. */
export function changedFields(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(a) || !isObj(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || 'config'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => changedFields(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

/** Does the config carry a secret (a proxy URL with a password)? Then the file is written 0600. */
export function holdsSecret(c: Config): boolean {
  const proxy = c.mesh.proxy;
  return typeof proxy === 'string' && /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(proxy);
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new ConegateError('CG_COMMAND_FAILED', `cannot write ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
  }
}

export interface SettingsDeps {
  /** The config file the agent runs from (written on settings-set); none = settings-set refused. */
  path: string | undefined;
  /** Applies one live field's new value to the running agent. */
  applyLive(field: LiveField, config: Config): Promise<void> | void;
  wallMs?: () => number;
}

export interface SettingsView {
  config: Config;
  pending: boolean;
  appliedAt: string | null;
  restartNeeded: string[];
}

export class Settings {
  /** What the agent runs with: the start config plus the live changes applied since. */
  private running: Config;
  private desired: Config;
  private appliedAtWallMs: number | null = null;

  constructor(start: Config, private readonly deps: SettingsDeps) {
    this.running = structuredClone(start);
    this.desired = structuredClone(start);
  }

  /** Fields saved but waiting for a restart. */
  restartNeeded(): string[] {
    return changedFields(this.running, this.desired);
  }

  get(): SettingsView {
    const restartNeeded = this.restartNeeded();
    return { config: structuredClone(this.desired), pending: restartNeeded.length > 0, appliedAt: this.appliedAtWallMs === null ? null : new Date(this.appliedAtWallMs).toISOString(), restartNeeded };
  }

  state(): { pending: boolean; appliedAtWallMs: number | null; restartNeeded: string[] } {
    const restartNeeded = this.restartNeeded();
    return { pending: restartNeeded.length > 0, appliedAtWallMs: this.appliedAtWallMs, restartNeeded };
  }

  /** The running value of nat.confirmSec and web.allowedHosts (changed live). */
  current(): Config {
    return this.running;
  }

  /**
   * Validates (throws CG_CONFIG_INVALID naming each field; nothing written), writes the file, then
   * applies the live fields. A live field that fails to apply stays pending with the error in the log.
   */
  async set(input: unknown): Promise<SettingsView & { appliedLive: string[]; notApplied: { field: string; error: string }[] }> {
    const next = validateConfig(input, 'settings');
    const path = this.deps.path;
    if (!path) throw new ConegateError('CG_UNSUPPORTED', 'this agent was started without a config file to write; start it with --config FILE');
    const mode = holdsSecret(next) ? 0o600 : 0o644;
    const text = JSON.stringify(input, null, 2) + '\n';
    if (mode === 0o600) await writeSecretFile(path, text, { createDir: true });
    else await writeAtomic(path, text, mode);
    this.desired = next;
    const appliedLive: string[] = [];
    const notApplied: { field: string; error: string }[] = [];
    for (const field of changedFields(this.running, next)) {
      const live = (LIVE_FIELDS as readonly string[]).includes(field) ? (field as LiveField) : undefined;
      if (!live) continue;
      try {
        await this.deps.applyLive(live, next);
      } catch (err) {
        // Saved, not applied: it stays in restartNeeded and the answer says why.
        notApplied.push({ field: live, error: (err as Error).message });
        continue;
      }
      setPath(this.running, live, getPath(next, live));
      appliedLive.push(live);
    }
    if (appliedLive.length > 0 || this.restartNeeded().length === 0) this.appliedAtWallMs = (this.deps.wallMs ?? Date.now)();
    return { ...this.get(), appliedLive, notApplied };
  }
}

function getPath(c: Config, field: string): unknown {
  return field.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], c);
}

function setPath(c: Config, field: string, value: unknown): void {
  const keys = field.split('.');
  const parent = keys.slice(0, -1).reduce<Record<string, unknown>>((o, k) => (o[k] ??= {}) as Record<string, unknown>, c as unknown as Record<string, unknown>);
  parent[keys[keys.length - 1]!] = structuredClone(value);
}
