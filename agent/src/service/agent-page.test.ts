/** The page's commands on a running Agent: over the control socket and through its web server, one set of handlers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { validateConfig } from '../config/load.ts';
import { isConegateError } from '../errors.ts';
import type { Finding } from '../ips/findings.ts';
import { silentLogger } from '../log/logger.ts';
import type { PageModel } from '../web/model.ts';
import { ensureToken } from '../web/token.ts';
import { Agent } from './agent.ts';
import { controlRequest } from './control-client.ts';

const finding: Finding = { engine: 'unifi', platform: 'unifi', interface: 'all', sid: 2027397, msg: 'ET P2P WireGuard', source: 'p2p', action: 'block', mode: 'alert-blocking', severity: 'blocks', hits: [], why: 'blocks the mesh port', fix: ['UniFi Network > Settings > CyberSecure (Security) > Intrusion Prevention > Signature Suppression: add SID 2027397 (gid 1) for all traffic.'], notes: [] };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('page, pmp-delete, settings over the control socket and the web server of one running agent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-agent-page-'));
  const port = await freePort();
  const config = validateConfig({ stateDir: dir, portmap: { enabled: false }, web: { enabled: true, listen: `127.0.0.1:${port}` } });
  const agent = new Agent({ config, stateDir: dir, controlSocket: join(dir, 'conegate.sock'), log: silentLogger(), clock: realClock, configPath: join(dir, 'conegate.json'), gc: null, pageDeps: { ipsFindings: async () => [finding] } });
  await agent.start();
  try {
    const sock = join(dir, 'conegate.sock');
    await agent.page.settled();
    const page = (await controlRequest(sock, 'page')) as PageModel;
    assert.equal(page.mappings, null, 'no NAT-PMP server here');
    assert.deepEqual(page.peers, []);
    assert.equal(page.ips[0]!.where, 'UniFi Network > Settings > CyberSecure (Security) > Intrusion Prevention > Signature Suppression');
    await assert.rejects(controlRequest(sock, 'pmp-delete', 5000, { client: '192.168.1.10', protocol: 'udp', internalPort: 5555 }), (e) => isConegateError(e) && e.code === 'CG_UNSUPPORTED');
    await assert.rejects(controlRequest(sock, 'settings-set', 5000, { config: { web: { listen: 'nope' } } }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID' && /web\.listen/.test(e.message));
    const set = (await controlRequest(sock, 'settings-set', 5000, { config: { stateDir: dir, web: { enabled: true, listen: `127.0.0.1:${port}`, allowedHosts: ['router.lan'] } } })) as { appliedLive: string[] };
    assert.deepEqual(set.appliedLive, ['web.allowedHosts']);

    // The web server answers the same model, and takes web.allowedHosts live.
    const token = await ensureToken(join(dir, 'web.token'));
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/page`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as PageModel).ips.length, 1);
    assert.ok(agent.web?.server(), 'the web component runs');
  } finally {
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
