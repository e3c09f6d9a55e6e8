/**
 * The page's web server as a component of `conegate up`. Its code (fastify, the server) is imported
 * when the component starts, so an agent with the page off never loads it (issue 16: idle RSS).
 * On by default only where the agent hosts the page itself (UniFi OS, Linux) and only for `up`;
 * OPNsense and pfSense host it in their own GUI over the control socket, with no TCP listener of ours.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock/clock.ts';
import type { Config } from '../config/types.ts';
import { ConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { detectPlatform } from '../platform/detect.ts';
import type { WebServer } from '../web/server.ts';
import { bundleDirCandidates } from '../web/static.ts';
import { ensureToken, tokenFileOf } from '../web/token.ts';
import type { Component } from './component.ts';
import type { ControlCommand } from './control-protocol.ts';

export async function webEnabled(config: Config, byDefault: boolean): Promise<boolean> {
  if (config.web.enabled !== undefined) return config.web.enabled;
  if (!byDefault) return false;
  const kind = (await detectPlatform('/')).kind;
  return kind === 'linux' || kind === 'unifi';
}

export interface WebComponentDeps {
  clock: Clock;
  log: Logger;
  stateDir: string;
  /** web.enabled set in the config: a listen failure then fails the agent; by default it is logged. */
  explicit: boolean;
  allowedHosts: () => readonly string[];
  call: (cmd: ControlCommand, params: Record<string, unknown>) => Promise<unknown>;
  /** Tests: the bundle directory (default dist/web beside the running bundle). */
  bundleDir?: string;
}

export interface WebComponent extends Component {
  server(): WebServer | undefined;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `web.${what}: cannot read ${path}`, { cause });
  }
}

export function webComponent(config: Config, deps: WebComponentDeps): WebComponent {
  let server: WebServer | undefined;
  let started: Promise<void> | undefined;
  let stopped = false;
  const start = async () => {
    const tokenFile = tokenFileOf(config, deps.stateDir);
    await ensureToken(tokenFile);
    const tls = config.web.tlsCert && config.web.tlsKey ? { cert: await readPem(config.web.tlsCert, 'tlsCert'), key: await readPem(config.web.tlsKey, 'tlsKey') } : undefined;
    const kind = (await detectPlatform('/')).kind;
    const { startWebServer } = await import('../web/server.ts');
    const bundleDir = deps.bundleDir ?? bundleDirCandidates(process.argv[1]).find((d) => existsSync(join(d, 'index.html')));
    try {
      server = await startWebServer({
        listen: config.web.listen,
        ...(tls ? { tls } : {}),
        tokenFile,
        allowedHosts: deps.allowedHosts,
        call: deps.call,
        bundleDir,
        platform: kind === 'opnsense' || kind === 'pfsense' || kind === 'unifi' ? kind : 'linux',
        clock: deps.clock,
        log: deps.log,
      });
    } catch (err) {
      const e = new ConegateError('CG_NETWORK', `web: cannot listen on ${config.web.listen}: ${(err as Error).message}`, { cause: err });
      if (deps.explicit) throw e;
      // The page is on by default: a taken port must not keep the agent itself from running.
      deps.log.warn({ err: e.message }, 'web: page not served (set web.listen, or web.enabled false)');
      return;
    }
    // Stopped while starting (the agent gave up): close what was just opened.
    if (stopped) {
      await server.close();
      server = undefined;
      return;
    }
    deps.log.info({ url: server.url, bundle: bundleDir ?? null }, 'web: page served');
  };
  return {
    name: 'web',
    start: () => (started ??= start()),
    stop: async () => {
      stopped = true;
      await started?.catch(() => undefined);
      await server?.close();
      server = undefined;
    },
    status: () => (server ? { url: server.url } : null),
    server: () => server,
  };
}
