// The page's agent side in the netns lab (issue 19): `conegate up` (the bundle) on a router with the
// NAT-PMP/PCP server, the EIM NAT backend and the web page on, driven the way the three hosts drive it:
// - `conegate control '{"cmd":"page"}'` (what the OPNsense configd action and the pfSense PHP run)
//   answers the PageModel; a mapping made by natpmpc on the LAN shows, and deleting one leaves the
//   other and the epoch;
// - settings-set refuses an invalid config naming the field (exit 2) and applies log.level live;
// - nat-apply loads the rules and waits, nat-confirm keeps them (real nft in the router's namespace);
// - the agent's web server on the router's loopback: no token 401, Bearer token 200 with the model.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import { requirePeers } from './require-peers.ts';
import type { PageModel } from '../../agent/src/web/model.ts';

const CLI = 'bin/conegate.js';

describe('conegate up answers the page over its control socket and its web server (lab)', () => {
  let lab: Lab;
  let dir: string;
  let config: string;

  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
  };
  const control = async (req: unknown) => lab.execNode('a.router', CLI, ['control', JSON.stringify(req), '--config', config], { timeoutMs: 60_000 });
  const page = async (): Promise<PageModel> => {
    const r = await control({ cmd: 'page' });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PageModel;
  };
  /** One HTTP request from inside the router's namespace (the page listens on its loopback). */
  const http = async (path: string, headers: Record<string, string>) => {
    // node:http, not fetch: fetch does not let a caller set Host.
    const code = `import { request } from 'node:http'; request({ host: '127.0.0.1', port: 8380, path: ${JSON.stringify(path)}, headers: ${JSON.stringify({ host: '127.0.0.1:8380', ...headers })} }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: b }))); }).end();`;
    const r = await lab.exec('a.router', [process.execPath, '--input-type=module', '-e', code], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { status: number; body: string };
  };

  before(async () => {
    requirePeers({ natpmpc: 'natpmpc', nft: 'nftables' });
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'page-up-'));
    config = join(dir, 'a.router.json');
    writeFileSync(
      config,
      JSON.stringify({
        stateDir: join(dir, 'state'),
        portmap: { enabled: false },
        pmp: { enabled: true, lan: ['lan0'], wan: 'wan0', backend: 'nftables' },
        nat: { backend: 'nftables', wan: ['wan0'], scope: { ports: ['41641'] } },
        ips: { root: join(dir, 'no-ips') },
        web: { enabled: true, listen: '127.0.0.1:8380' },
      }),
    );
    lab.spawnConegate('a.router', ['up', '--foreground', '--config', config]);
    await waitFor('the agent answers', async () => ((await control({ cmd: 'ping' })).code === 0 ? true : undefined));
  });
  after(async () => {
    await lab?.destroy();
  });

  it('page over `conegate control`: mappings from natpmpc; one deleted, the other and the epoch stay', async () => {
    const gw = lab.node('a.router').lan!.v4!;
    for (const port of ['40000', '40001']) {
      await waitFor(`natpmpc mapping ${port}`, async () => {
        const r = await lab.exec('a.h1', ['natpmpc', '-g', gw, '-a', port, port, 'udp', '600'], { timeoutMs: 10_000 });
        return /Mapped public port/.test(r.stdout + r.stderr) ? true : undefined;
      });
    }
    const before = await page();
    assert.ok(before.mappings, 'the NAT-PMP/PCP server is on');
    const h1 = lab.addr('a.h1');
    assert.deepEqual(before.mappings.items.map((m) => m.id), [`${h1}/udp/40000`, `${h1}/udp/40001`]);
    assert.equal(before.nat.backend, 'nft');
    assert.deepEqual(before.ips, []);

    const del = await control({ cmd: 'pmp-delete', client: h1, protocol: 'udp', internalPort: 40000 });
    assert.equal(del.code, 0, del.stderr);
    const afterDelete = await page();
    assert.deepEqual(afterDelete.mappings!.items.map((m) => m.id), [`${h1}/udp/40001`]);
    assert.ok(afterDelete.mappings!.epochSec >= before.mappings.epochSec, 'the epoch was not reset');
    const missing = await control({ cmd: 'pmp-delete', client: h1, protocol: 'udp', internalPort: 40000 });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no udp mapping/);
    const bad = await control({ cmd: 'pmp-delete', client: h1, protocol: 'udp' });
    assert.equal(bad.code, 2, 'a request its schema refuses is a usage error');
  });

  it('settings: an invalid change is refused naming the field; log.level is applied live', async () => {
    const got = await control({ cmd: 'settings-get' });
    assert.equal(got.code, 0, got.stderr);
    const current = (JSON.parse(got.stdout) as { config: Record<string, unknown> }).config;
    const bad = await control({ cmd: 'settings-set', config: { ...current, wg: { listenPort: 70000 } } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /wg\.listenPort/);
    const ok = await control({ cmd: 'settings-set', config: { ...current, log: { level: 'debug' } } });
    assert.equal(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout) as { appliedLive: string[]; pending: boolean };
    assert.deepEqual(r.appliedLive, ['log.level']);
    assert.equal(r.pending, false);
    assert.ok((await page()).settings.appliedAt);
  });

  it('NAT: apply waits for confirmation, confirm keeps the rules', async () => {
    const a = await control({ cmd: 'nat-apply', confirmSeconds: 60 });
    assert.equal(a.code, 0, a.stderr);
    assert.ok((JSON.parse(a.stdout) as { pending: unknown }).pending);
    assert.ok((await page()).nat.pending, 'the page shows the countdown');
    assert.equal((await lab.exec('a.router', ['nft', 'list', 'table', 'ip', 'conegate'])).code, 0, 'our table is loaded');
    const c = await control({ cmd: 'nat-confirm' });
    assert.equal(c.code, 0, c.stderr);
    const p = await page();
    assert.equal(p.nat.pending, null);
    assert.match(p.nat.rules, /table ip conegate/);
  });

  it('the web server on the router: no token 401, the token 200 with the same model', async () => {
    assert.equal((await http('/api/v1/page', {})).status, 401);
    const t = await lab.execNode('a.router', CLI, ['web', 'token', '--config', config], { timeoutMs: 30_000 });
    assert.equal(t.code, 0, t.stderr);
    const token = t.stdout.trim();
    const r = await http('/api/v1/page', { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as PageModel).mappings!.items.length, 1);
    assert.equal((await http('/api/v1/page', { authorization: `Bearer ${token}`, host: 'evil.example' })).status, 403);
  });
});
