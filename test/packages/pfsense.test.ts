/**
 * pfSense-pkg-conegate: package XML fields reach the agent's config (which passes the agent's schema),
 * and the status page and its API run under PHP's built-in web server with stubs of pfSense's GUI
 * includes: the transport block is JSON, reads and writes reach `conegate control`, and writes
 * without the page's token, cross-site, or as a form are refused before they reach it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { php, requirePhp, ROOT, tempDir, transportJson, validateAgentConfig } from './helpers.ts';

const PFS = join(ROOT, 'pfsense-plugin/files');
const PKG = join(PFS, 'usr/local/pkg');
const STUBS = join(ROOT, 'test/packages/fixtures/pfsense-stubs');

const FULL = {
  enable: 'on', meshenable: 'on', coordinator: 'https://coord.example.net', coordinatorfingerprint: 'ab'.repeat(32),
  authkeyfile: '/usr/local/etc/conegate/authkey', hostname: 'pfs-1', advertiseroutes: '192.168.1.0/24, 10.1.0.0/16',
  acceptroutes: 'on', nosnat: 'on', listenport: '41641', pmpenable: 'on', pmpinterfaces: 'lan,opt1', pmpallow: '192.168.1.0/24',
  natenable: 'on', natmode: 'static-port', natwan: 'wan', portmapenable: 'on', stunservers: 'stun.example.net:3478,198.51.100.7:3478', loglevel: 'warn',
};

async function buildConfig(settings: Record<string, string>): Promise<Record<string, Record<string, unknown>>> {
  const out = await php(`require 'guiconfig.inc'; require 'conegate.inc'; echo conegate_config_json(json_decode(${JSON.stringify(JSON.stringify(settings))}, true));`, [STUBS, PKG]);
  return JSON.parse(out) as Record<string, Record<string, unknown>>;
}

test('every package XML field reaches the agent config, which passes the agent\'s schema', async () => {
  const xml = await readFile(join(PKG, 'conegate.xml'), 'utf8');
  const fields = [...xml.matchAll(/<fieldname>(\w+)<\/fieldname>/g)].map((m) => m[1]!);
  assert.deepEqual(Object.keys(FULL).sort(), [...fields].sort(), 'the test sets every field');
  const inc = await readFile(join(PKG, 'conegate.inc'), 'utf8');
  const build = inc.slice(inc.indexOf('function conegate_build_config'), inc.indexOf('function conegate_real_if'));
  assert.deepEqual(fields.filter((f) => f !== 'enable' && !build.includes(`'${f}'`)), [], 'every field but enable is used');
  assert.match(inc.slice(inc.indexOf('function conegate_resync_config')), /\$s\['enable'\]/);

  const full = await buildConfig(FULL);
  await validateAgentConfig(full, { pageOff: true });
  assert.deepEqual(full.pmp, { enabled: true, lan: ['igb1', 'igb2'], allow: ['192.168.1.0/24'] });
  assert.deepEqual(full.nat, { enabled: true, mode: 'static-port', wan: ['igb0'] });
  assert.deepEqual(full.mesh!.advertiseRoutes, ['192.168.1.0/24', '10.1.0.0/16']);
  assert.equal(full.mesh!.snatSubnetRoutes, false);
  assert.deepEqual(full.log, { level: 'warn' });
  assert.deepEqual(full.web, { enabled: false }, 'no TCP listener for the GUI on pfSense');
  await validateAgentConfig(await buildConfig({}), { pageOff: true });
});

test('Save runs the agent\'s own validator: each refused field becomes an input error, valid settings pass', async () => {
  // The real CLI (bin/conegate.js runs the bundle scripts/run-tests.mjs built) validating what the form posted;
  // a multiple select arrives as a list, a checkbox as "yes".
  const post = { ...FULL, enable: 'yes', pmpinterfaces: ['lan', 'opt1'], natwan: ['wan'], hostname: '-bad name', coordinator: 'http://plain.example.net' };
  const code = (p: unknown) => `require 'guiconfig.inc'; require 'conegate.inc'; $e = []; conegate_validate_input(json_decode(${JSON.stringify(JSON.stringify(p))}, true), $e); echo json_encode($e);`;
  const env = { ...process.env, CONEGATE_BIN: join(ROOT, 'bin/conegate.js') };
  const errors = JSON.parse(await php(code(post), [STUBS, PKG], env)) as string[];
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors.find((e) => e.startsWith('mesh.hostname:')) ?? '', /does not match/);
  assert.match(errors.find((e) => e.startsWith('mesh.coordinator:')) ?? '', /does not match/);
  assert.deepEqual(JSON.parse(await php(code({ ...FULL, pmpinterfaces: ['lan'] }), [STUBS, PKG], env)) as string[], []);
  const fromForm = JSON.parse(await php(`require 'guiconfig.inc'; require 'conegate.inc'; echo conegate_config_json(json_decode(${JSON.stringify(JSON.stringify(post))}, true));`, [STUBS, PKG])) as { pmp: { lan: string[] }; nat: { wan: string[] } };
  assert.deepEqual([fromForm.pmp.lan, fromForm.nat.wan], [['igb1', 'igb2'], ['igb0']], 'multiple selects as posted');
  const missing = JSON.parse(await php(code(FULL), [STUBS, PKG], { ...process.env, CONEGATE_BIN: '/nonexistent/conegate' })) as string[];
  assert.match(missing[0]!, /not installed/);
});

test('the package XML names the service, menu, tabs and hooks the .inc defines', async () => {
  const xml = await readFile(join(PKG, 'conegate.xml'), 'utf8');
  const inc = await readFile(join(PKG, 'conegate.inc'), 'utf8');
  for (const tag of ['custom_php_install_command', 'custom_php_deinstall_command', 'custom_php_validation_command', 'custom_php_resync_config_command', 'filter_rules_needed', 'custom_php_service_status_command']) {
    const body = new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(xml)?.[1];
    assert.ok(body, tag);
    const fn = /(\w+)\(/.exec(body!)?.[1] ?? body!.trim();
    assert.match(inc, new RegExp(`^function ${fn}\\(`, 'm'), `${tag} -> ${fn}`);
  }
  assert.match(xml, /<rcfile>conegate\.sh<\/rcfile>/);
  await readFile(join(PFS, 'usr/local/etc/rc.d/conegate.sh'));
  for (const m of xml.matchAll(/<url>\/conegate\/([\w.]+)<\/url>/g)) await readFile(join(PFS, 'usr/local/www/conegate', m[1]!));
  const priv = await readFile(join(PFS, 'etc/inc/priv/conegate.priv.inc'), 'utf8');
  for (const page of ['conegate/index.php', 'conegate/api.php', 'pkg_edit.php?xml=conegate.xml']) assert.ok(priv.includes(page), page);
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let server: ChildProcess | undefined;
after(() => {
  if (server?.pid) process.kill(server.pid, 'SIGTERM');
});

/** php -S on loopback serving pfsense-plugin/files/usr/local/www, pfSense's include_path order. */
async function startGui(): Promise<{ base: string; log: string }> {
  requirePhp();
  const dir = await tempDir('pfs-gui');
  await mkdir(join(dir, 'sessions'));
  const log = join(dir, 'argv.log');
  const bin = join(dir, 'conegate');
  await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\necho '{"ok":true,"result":{"peers":[]}}'\n`);
  await chmod(bin, 0o755);
  const port = await freePort();
  server = spawn('php', ['-d', `include_path=.:${STUBS}:${PKG}`, '-S', `127.0.0.1:${port}`, '-t', join(PFS, 'usr/local/www')], {
    env: { ...process.env, CONEGATE_BIN: bin, CG_SESSION_DIR: join(dir, 'sessions') },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  // Bounded wait for the listener (at most 100 tries, 50 ms apart).
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${base}/conegate/api.php?r=/nope`).then(() => true, () => false);
    if (ok) return { base, log };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('php -S did not start');
}

test('status page and API: transport JSON, reads and writes through conegate control, unsafe writes refused', async () => {
  const { base, log } = await startGui();
  const page = await fetch(`${base}/conegate/index.php`);
  assert.equal(page.status, 200);
  const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
  const transport = JSON.parse(transportJson(await page.text())) as { host: string; base: string; live: string; csrf: { header: string; token: string } };
  assert.equal(transport.host, 'pfsense');
  assert.equal(transport.base, '/conegate/api.php?r=');
  assert.equal(transport.live, 'poll');
  assert.match(transport.csrf.token, /^[0-9a-f]{64}$/);

  const get = await fetch(`${base}${transport.base}/page`, { headers: { cookie } });
  assert.deepEqual(await get.json(), { ok: true, result: { peers: [] } });

  const body = JSON.stringify({ client: '192.168.1.20', protocol: 'udp', internalPort: 5000 });
  const write = (headers: Record<string, string>, b = body) => fetch(`${base}${transport.base}/pmp/delete`, { method: 'POST', headers: { cookie, ...headers }, body: b });
  const json = { 'content-type': 'application/json' };
  const token = { [transport.csrf.header]: transport.csrf.token };
  const refused: [string, Response][] = [
    ['no token', await write(json)],
    ['wrong token', await write({ ...json, [transport.csrf.header]: 'f'.repeat(64) })],
    ['cross-site', await write({ ...json, ...token, 'sec-fetch-site': 'cross-site' })],
    ['form post', await write({ 'content-type': 'application/x-www-form-urlencoded', ...token }, 'client=192.168.1.20')],
    ['another session', await fetch(`${base}${transport.base}/pmp/delete`, { method: 'POST', headers: { ...json, ...token }, body })],
    ['settings write', await fetch(`${base}${transport.base}/settings`, { method: 'POST', headers: { cookie, ...json, ...token }, body: '{"config":{}}' })],
  ];
  for (const [why, r] of refused) {
    assert.ok(r.status >= 400, `${why}: ${r.status}`);
    assert.equal(((await r.json()) as { ok: boolean }).ok, false, why);
  }
  const ok = await write({ ...json, ...token });
  assert.equal(ok.status, 200);
  const argv = (await readFile(log, 'utf8')).trim().split('\n');
  assert.deepEqual(argv, ['control', '{"cmd":"page"}', 'control', '{"cmd":"pmp-delete","client":"192.168.1.20","protocol":"udp","internalPort":5000}']);
});
