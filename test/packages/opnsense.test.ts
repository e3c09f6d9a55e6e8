/**
 * os-conegate: model, form, template, controllers, configd actions agree; the rendered config passes
 * the agent's schema; the page's transport block is JSON; the configd control script and the API
 * controller send only the page's commands to `conegate control`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { php, renderOpnsenseTemplate, ROOT, runTool, tempDir, transportJson, validateAgentConfig, listFiles } from './helpers.ts';

const OPN = join(ROOT, 'opnsense-plugin/src/opnsense');
const MVC = join(OPN, 'mvc/app');
const read = (rel: string) => readFile(join(OPN, rel), 'utf8');

async function modelFields(): Promise<Map<string, string>> {
  const xml = await read('mvc/app/models/OPNsense/Conegate/General.xml');
  return new Map([...xml.matchAll(/<(\w+) type="(\w+)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** A config.xml tree with every field set, as OPNsense stores them (strings, lists comma-joined). */
const FULL = {
  interfaces: { lan: { if: 'igb1' }, opt1: { if: 'igb2' }, wan: { if: 'igb0' } },
  OPNsense: {
    conegate: {
      general: {
        enabled: '1', logLevel: 'debug', meshEnabled: '1', coordinator: 'https://coord.example.net:8443/mesh',
        coordinatorFingerprint: 'AB:'.repeat(31) + 'CD', authKeyFile: '/usr/local/etc/conegate/authkey', hostname: 'fw-1',
        advertiseRoutes: '192.168.1.0/24,10.10.0.0/16', acceptRoutes: '1', snatSubnetRoutes: '0', listenPort: '41641',
        pmpEnabled: '1', pmpInterfaces: 'lan,opt1', pmpAllow: '192.168.1.0/24', natEnabled: '1', natMode: 'endpoint-independent',
        natWan: 'wan', portmapEnabled: '1', stunServers: 'stun.example.net:3478,198.51.100.7:3478',
      },
    },
  },
};

test('form, template and controllers use exactly the model\'s fields', async () => {
  const fields = await modelFields();
  assert.ok(fields.size >= 18);
  const form = await readFile(join(MVC, 'controllers/OPNsense/Conegate/forms/general.xml'), 'utf8');
  const formIds = [...form.matchAll(/<id>([\w.]+)<\/id>/g)].map((m) => m[1]!);
  assert.deepEqual(formIds.filter((id) => !id.startsWith('general.')), [], 'form ids are general.<field>');
  assert.deepEqual([...fields.keys()].filter((f) => !formIds.includes(`general.${f}`)), [], 'every model field has a form field');
  assert.deepEqual(formIds.map((id) => id.slice(8)).filter((f) => !fields.has(f)), [], 'every form field is in the model');

  const tpl = await read('service/templates/OPNsense/Conegate/conegate.json');
  const used = new Set([...tpl.matchAll(/\bg\.(\w+)/g)].map((m) => m[1]!));
  for (const m of tpl.matchAll(/for key in \[([^\]]+)\]/g)) for (const k of m[1]!.matchAll(/'(\w+)'/g)) used.add(k[1]!);
  assert.deepEqual([...used].filter((f) => !fields.has(f)), [], 'the template reads only model fields');
  assert.deepEqual([...fields.keys()].filter((f) => f !== 'enabled' && !used.has(f)), [], 'every field but enabled reaches the config');
  assert.match(await read('service/templates/OPNsense/Conegate/rc.conf.d'), /OPNsense\.conegate\.general\.enabled/);

  const settings = await readFile(join(MVC, 'controllers/OPNsense/Conegate/Api/SettingsController.php'), 'utf8');
  assert.match(settings, /\$internalModelName = 'general'/);
  assert.match(settings, /\$internalModelClass = '\\OPNsense\\Conegate\\General'/);
  const service = await readFile(join(MVC, 'controllers/OPNsense/Conegate/Api/ServiceController.php'), 'utf8');
  const enabledField = /\$internalServiceEnabled = '(\w+)'/.exec(service)?.[1];
  assert.ok(enabledField && fields.has(enabledField), `service enable field ${enabledField} is in the model`);
  assert.match(service, /\$internalServiceTemplate = 'OPNsense\/Conegate'/);
  assert.match(await readFile(join(MVC, 'models/OPNsense/Conegate/General.xml'), 'utf8'), /<mount>\/\/OPNsense\/conegate\/general<\/mount>/);
  assert.match(await readFile(join(MVC, 'controllers/OPNsense/Conegate/SettingsController.php'), 'utf8'), /getForm\('general'\)/);
});

test('every configd action the PHP runs exists in actions_conegate.conf, and template targets exist', async () => {
  const conf = await read('service/conf/actions.d/actions_conegate.conf');
  const actions = new Set([...conf.matchAll(/^\[([\w-]+)\]$/gm)].map((m) => m[1]!));
  const phpFiles = [...(await listFiles(MVC)).filter((f) => f.endsWith('.php')).map((f) => join(MVC, f)), join(ROOT, 'opnsense-plugin/src/etc/inc/plugins.inc.d/conegate.inc')];
  const used = new Set<string>();
  for (const f of phpFiles) for (const m of (await readFile(f, 'utf8')).matchAll(/configdp?Run\('conegate ([\w-]+)/g)) used.add(m[1]!);
  assert.ok(used.size >= 6, [...used].join(','));
  assert.deepEqual([...used].filter((a) => !actions.has(a)), []);
  // ServiceController's base class runs `conegate start|stop|restart|status` by itself.
  for (const a of ['start', 'stop', 'restart', 'status']) assert.ok(actions.has(a), a);
  const targets = await read('service/templates/OPNsense/Conegate/+TARGETS');
  for (const line of targets.trim().split('\n')) {
    const [src] = line.split(':');
    await readFile(join(OPN, 'service/templates/OPNsense/Conegate', src!));
  }
});

test('ACL covers the page, settings and API; the menu points at existing controllers', async () => {
  const acl = await read('mvc/app/models/OPNsense/Conegate/ACL/ACL.xml');
  assert.match(acl, /<pattern>ui\/conegate\/\*<\/pattern>/);
  assert.match(acl, /<pattern>api\/conegate\/\*<\/pattern>/);
  const menu = await read('mvc/app/models/OPNsense/Conegate/Menu/Menu.xml');
  const controllers = await listFiles(join(MVC, 'controllers/OPNsense/Conegate'));
  for (const m of menu.matchAll(/url="\/ui\/conegate\/(\w*)"/g)) {
    const name = m[1] === '' ? 'Index' : m[1]![0]!.toUpperCase() + m[1]!.slice(1);
    assert.ok(controllers.includes(`${name}Controller.php`), `menu url ${m[0]} has ${name}Controller.php`);
  }
});

test('the config rendered from config.xml passes the agent\'s schema, values in the right keys', async () => {
  const full = JSON.parse(await renderOpnsenseTemplate('conegate.json', FULL)) as Record<string, Record<string, unknown>>;
  await validateAgentConfig(full, { pageOff: true });
  assert.deepEqual(full.pmp!.lan, ['igb1', 'igb2'], 'interfaces as devices');
  assert.deepEqual(full.nat, { enabled: true, mode: 'endpoint-independent', wan: ['igb0'] });
  assert.equal(full.mesh!.coordinator, 'https://coord.example.net:8443/mesh');
  assert.equal(full.mesh!.snatSubnetRoutes, false);
  assert.deepEqual(full.mesh!.advertiseRoutes, ['192.168.1.0/24', '10.10.0.0/16']);
  assert.deepEqual(full.netcheck, { stunServers: ['stun.example.net:3478', '198.51.100.7:3478'] });
  assert.deepEqual(full.wg, { listenPort: 41641 });
  assert.deepEqual(full.web, { enabled: false }, 'no TCP listener for the GUI on OPNsense');
  // A fresh install: nothing in config.xml yet.
  await validateAgentConfig(JSON.parse(await renderOpnsenseTemplate('conegate.json', {})) as Record<string, unknown>, { pageOff: true });
  // A coordinator with a quote cannot break out of its JSON string.
  const evil = structuredClone(FULL);
  evil.OPNsense.conegate.general.hostname = 'a","log":{"level":"trace"},"x":"';
  const parsed = JSON.parse(await renderOpnsenseTemplate('conegate.json', evil)) as { log: { level: string }; mesh: { hostname: string } };
  assert.equal(parsed.log.level, 'debug');
  assert.equal(parsed.mesh.hostname, evil.OPNsense.conegate.general.hostname);
  assert.match(await renderOpnsenseTemplate('rc.conf.d', FULL), /^conegate_enable="YES"$/m);
  assert.match(await renderOpnsenseTemplate('rc.conf.d', {}), /^conegate_enable="NO"$/m);
});

test('the status page writes its PageTransport as JSON that cannot close the script element', async () => {
  const token = 'x"</script><img src=x onerror=alert(1)>&\'';
  const out = await php(`require '${MVC}/models/OPNsense/Conegate/PageTransport.php'; echo \\OPNsense\\Conegate\\PageTransport::block(${JSON.stringify(token).replace(/\$/g, '\\$')});`);
  const json = transportJson(out);
  assert.doesNotMatch(json, /[<>&]/);
  assert.deepEqual(JSON.parse(json), { host: 'opnsense', base: '/api/conegate/agent', live: 'poll', pollMs: 2000, csrf: { header: 'X-CSRFToken', token }, platform: 'opnsense' });
  assert.match(await read('mvc/app/views/OPNsense/Conegate/index.volt'), /\{\{ transportBlock \}\}/);
});

/** A stand-in `conegate` that records its argv and answers like `conegate control`. */
async function fakeConegate(dir: string): Promise<{ bin: string; log: string }> {
  const bin = join(dir, 'conegate');
  const log = join(dir, 'argv.log');
  await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\necho '{"ok":true,"result":{"echo":1}}'\n`);
  await chmod(bin, 0o755);
  return { bin, log };
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

test('configd control script: the page\'s commands go to `conegate control` as one argv entry; others are refused', async () => {
  const dir = await tempDir('opn-control');
  const { bin, log } = await fakeConegate(dir);
  const script = join(OPN, 'scripts/OPNsense/Conegate/control.php');
  const env = { ...process.env, CONEGATE_BIN: bin };
  const request = { cmd: 'pmp-delete', client: '192.168.1.20', protocol: 'udp', internalPort: 5000 };
  let r = await runTool('php', [script, b64url(request)], { env });
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, result: { echo: 1 } });
  assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), ['control', JSON.stringify(request)]);
  await writeFile(log, '');
  for (const bad of [b64url({ cmd: 'down' }), b64url({ cmd: 'logout' }), b64url([1]), 'not base64!', "'; rm -rf /; '"]) {
    r = await runTool('php', [script, bad], { env });
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, false, bad);
  }
  assert.equal(await readFile(log, 'utf8'), '', 'refused requests never reach conegate');
});

test('API controller: each route becomes its control command; settings writes are refused with where to go', async () => {
  // Stubs of the OPNsense framework classes the controller uses; Backend records what configd would run.
  const stub = `
    namespace OPNsense\\Base { class ApiControllerBase { public $request; public function sessionClose() {} } }
    namespace OPNsense\\Core { class Backend { public static $calls = []; public function configdpRun($a, $p = []) {
      self::$calls[] = [$a, json_decode(base64_decode(strtr($p[0], '-_', '+/')), true)]; return '{"ok":true,"result":null}'; } } }
    namespace { class Req { public $post; public $body; function __construct($post, $body) { $this->post = $post; $this->body = $body; }
      function isPost() { return $this->post; } function getRawBody() { return $this->body; } }
      require '${MVC}/controllers/OPNsense/Conegate/Api/AgentController.php';
      $out = [];
      $call = function ($post, $body, $fn, ...$args) use (&$out) { $c = new \\OPNsense\\Conegate\\Api\\AgentController(); $c->request = new Req($post, $body); $out[] = $c->$fn(...$args); };
      $call(false, '', 'pageAction');
      $call(true, '{"client":"192.168.1.20","protocol":"tcp","internalPort":8080,"extra":1}', 'pmpAction', 'delete');
      $call(false, '', 'pmpAction', 'delete');
      $call(true, '{"confirmSeconds":30}', 'natAction', 'apply');
      $call(true, '', 'natAction', 'revert');
      $call(true, '', 'natAction', 'flush');
      $call(false, '', 'settingsAction');
      $call(true, '{"config":{}}', 'settingsAction');
      echo json_encode(['out' => $out, 'calls' => \\OPNsense\\Core\\Backend::$calls]);
    }`;
  const { out, calls } = JSON.parse(await php(stub)) as { out: { ok: boolean; error?: { message: string } }[]; calls: [string, unknown][] };
  assert.deepEqual(calls, [
    ['conegate control', { cmd: 'page' }],
    ['conegate control', { cmd: 'pmp-delete', client: '192.168.1.20', protocol: 'tcp', internalPort: 8080 }],
    ['conegate control', { cmd: 'nat-apply', confirmSeconds: 30 }],
    ['conegate control', { cmd: 'nat-revert' }],
    ['conegate control', { cmd: 'settings-get' }],
  ]);
  assert.deepEqual(out.map((o) => o.ok), [true, true, false, true, true, false, true, false]);
  assert.match(out[7]!.error!.message, /Services > conegate > Settings/);
});

test('Apply: the agent validates the rendered config first; a refusal is returned with the field, nothing restarts', async () => {
  const run = async (validateAnswer: string, enabled: string) => {
    const code = `
      namespace OPNsense\\Base { class ApiMutableServiceControllerBase { public $request; public static $model;
        protected function getModel() { return self::$model; } protected function sessionClose() {} } }
      namespace OPNsense\\Core { class Backend { public static $calls = []; public function configdRun($a) {
        self::$calls[] = $a; return $a === 'conegate validate' ? ${JSON.stringify(validateAnswer)} : 'OK'; } } }
      namespace { class Req { function isPost() { return true; } }
        require '${MVC}/controllers/OPNsense/Conegate/Api/ServiceController.php';
        \\OPNsense\\Base\\ApiMutableServiceControllerBase::$model = (object)['enabled' => '${enabled}'];
        $c = new \\OPNsense\\Conegate\\Api\\ServiceController(); $c->request = new Req();
        echo json_encode(['answer' => $c->reconfigureAction(), 'calls' => \\OPNsense\\Core\\Backend::$calls]); }`;
    return JSON.parse(await php(code)) as { answer: { status: string; message?: string }; calls: string[] };
  };
  const refused = await run('/usr/local/etc/conegate/conegate.json is invalid:\n  mesh.hostname: "-x" does not match ^[A-Za-z0-9]', '1');
  assert.equal(refused.answer.status, 'failed');
  assert.match(refused.answer.message!, /mesh\.hostname/);
  assert.deepEqual(refused.calls, ["template reload 'OPNsense/Conegate'", 'conegate validate']);
  const ok = await run('/usr/local/etc/conegate/conegate.json: valid\n', '1');
  assert.deepEqual(ok, { answer: { status: 'ok' }, calls: ["template reload 'OPNsense/Conegate'", 'conegate validate', 'conegate restart'] });
  const off = await run('', '0');
  assert.deepEqual(off.calls, ["template reload 'OPNsense/Conegate'", 'conegate stop']);
});

test('plugin hooks: the service is listed only when enabled; boot renders then starts; a new WAN address re-applies NAT only when on', async () => {
  const code = (enabled: string, nat: string) => `
    namespace OPNsense\\Conegate { class General { public $enabled = '${enabled}'; public $natEnabled = '${nat}'; } }
    namespace OPNsense\\Core { class Backend { public static $calls = []; public function configdRun($a) { self::$calls[] = $a; return ''; } } }
    namespace { if (!function_exists('gettext')) { function gettext($s) { return $s; } }
      require '${ROOT}opnsense-plugin/src/etc/inc/plugins.inc.d/conegate.inc';
      $hooks = conegate_configure();
      foreach ($hooks as $list) foreach ($list as $h) { if (!function_exists(explode(':', $h)[0])) { echo 'missing ' . $h; exit(1); } }
      $services = conegate_services();
      conegate_configure_do();
      conegate_configure_wan(false, 'wan');
      echo json_encode(['hooks' => $hooks, 'services' => $services, 'calls' => \\OPNsense\\Core\\Backend::$calls]); }`;
  const on = JSON.parse(await php(code('1', '1'))) as { hooks: Record<string, string[]>; services: { name: string; pidfile: string; configd: Record<string, string[]> }[]; calls: string[] };
  assert.deepEqual(Object.keys(on.hooks).sort(), ['bootup', 'newwanip']);
  assert.equal(on.services[0]!.name, 'conegate');
  assert.equal(on.services[0]!.pidfile, '/var/run/conegate.pid', 'the rc.d script\'s daemon(8) pid file');
  assert.deepEqual(on.calls, ['template reload OPNsense/Conegate', 'conegate start', 'conegate nat-apply']);
  const off = JSON.parse(await php(code('0', '1'))) as { services: unknown[]; calls: string[] };
  assert.deepEqual(off.services, []);
  assert.deepEqual(off.calls, ['template reload OPNsense/Conegate']);
  const noNat = JSON.parse(await php(code('1', '0'))) as { calls: string[] };
  assert.deepEqual(noNat.calls, ['template reload OPNsense/Conegate', 'conegate start']);
});
