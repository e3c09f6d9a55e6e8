/**
 * A PageTarget on the agent's real web server (agent/src/web/server.ts: token sessions, Host allow-list,
 * same-origin JSON-only writes, CSP, server-sent events), with its control calls answered by the fake's
 * state instead of a running agent. So the browser test checks the page against the real server's
 * safety rules without a lab (test/web/page-real-server.test.ts runs the page test on it).
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { realClock } from '../../agent/src/clock/clock.ts';
import { startWebServer } from '../../agent/src/web/server.ts';
import { FakePageState } from './fake-state.ts';
import { XSS_NAME } from './sample-model.ts';
import type { PageTarget } from './target.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
export async function serverTarget(): Promise<PageTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'cg-webui-'));
  const token = 'W'.repeat(43);
  const tokenFile = join(dir, 'web.token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  await chmod(tokenFile, 0o600);
  const state = new FakePageState();
  const server = await startWebServer({
    listen: '127.0.0.1:0',
    tokenFile,
    allowedHosts: () => [],
    call: (cmd: string, params: Record<string, unknown>) => state.call(cmd, params),
    bundleDir: join(ROOT, 'dist/web'),
    platform: 'linux',
    clock: realClock,
    log: pino({ level: 'silent' }),
    eventsEveryMs: 500,
  });
  const finding = state.model.ips[0]!;
  return {
    url: `${server.url}/`,
    token,
    relayedPeer: { id: 'n-branch', name: 'branch-office' },
    async makeDirect() {
      state.update((m) => {
        const p = m.peers.find((x) => x.id === 'n-branch')!;
        Object.assign(p, { path: 'direct', endpoint: '198.51.100.20:41641', relay: null, reason: null, forSec: 0, rttMs: 8.4 });
        p.events.push({ at: new Date().toISOString(), text: 'path: direct 198.51.100.20:41641' });
      });
    },
    async requestMapping() {
      const m = { client: '192.168.1.31', protocol: 'udp' as const, internalPort: 41641, externalPort: 61022 };
      state.addMapping({ ...m, lifetimeSec: 7200, via: 'nat-pmp' });
      return m;
    },
    async mappings() {
      return { epochSec: state.model.mappings!.epochSec, ids: state.model.mappings!.items.map((i) => i.id) };
    },
    finding,
    markupPeerName: XSS_NAME,
    invalidEdit: (c) => ({ ...c, wg: { ...c.wg, listenPort: 70000 } }),
    invalidField: 'wg.listenPort',
    validEdit: (c) => ({ ...c, log: { ...c.log, level: 'debug' } }),
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** For CONEGATE_WEB_TARGET=test/web/server-target.ts (test/web/target.ts). */
export const createTarget = serverTarget;
