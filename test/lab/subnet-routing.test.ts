// Acceptance for subnet routing between sites (issue 18): the real coordinator (`conegate coord serve`,
// SQLite, self-signed and pinned) on the lab internet (s1); site A's and site B's routers run
// `conegate up --advertise-routes` for their LAN (IPv4 and an IPv6 ULA /64 added here) with
// --accept-routes; the LAN hosts a.h1 and b.h1 run no mesh software. Routes are approved with
// `conegate coord routes approve`. a.h1 and b.h1 ping each other (v4, v6) and a TCP stream (iperf3)
// goes through both routers. Failover: b.h2, a second router on site B's LAN (behind b.router's NAT,
// reaching the mesh from there), advertises the same prefixes; kill -9 of b.router's agent moves them
// to b.h2 and B's LAN is reachable again: the time from the kill to the first answer is measured.
// Health: b.router's LAN side broken while it stays online (nft drops what it sends to b.h1): its health
// probe (mesh.routeHealth, TCP to b.h1) fails, the coordinator moves B's prefixes to b.h2, measured from
// the break to the first answer; then the same the other way round.
// SNAT off: b.h2 restarted with mesh.snatSubnetRoutes false; b.h1 then answers a.h1's real address
// through its default gateway (b.router, which routes nothing for the mesh now): no answer until b.h1
// has a route back via b.h2.
//
// The lab routers' own forward chain drops new connections from anything but the LAN; an accept in
// our table cannot override another table's drop (nftables: every base chain must accept), so the
// test admits the mesh interface in the router's own table, as the admin of such a router does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { labWaitFor, agentStatus, pingOnce } from './lab-wait.ts';

const ULA = { a: 'fd00:a::', b: 'fd00:b::' } as const;

interface StatusJson {
  mesh: { self: { id: string; name: string; addresses: string[] }; peers: { name: string; lastHandshake: string | null }[]; coordinator: { phase: string } };
  components: Record<string, unknown>;
}

describe('subnet routing between two sites in the netns lab', () => {
  let lab: Lab;
  let dir: string;
  let coord: LabProcess;
  let adminSocket: string;
  let coordUrl: string;
  let fingerprint: string;
  let authKey: string;
  const agents = new Map<string, LabProcess>();
  const configs = new Map<string, string>();
  const tag = String(process.pid % 100000);
  const meshIf = (node: string) => `cgs${tag}${node.startsWith('a') ? 'a' : node === 'b.router' ? 'b' : 'c'}`;

  const waitFor = labWaitFor;
  const status = (node: string) => agentStatus<StatusJson>(lab, node, configs.get(node)!);
  const ping = (from: string, to: string) => pingOnce(lab, from, to);
  const v4 = (node: string) => lab.addr(node);
  const v6 = (node: string) => `${ULA[node[0] as 'a' | 'b']}${node === 'b.h2' ? '11' : node.endsWith('router') ? '1' : '10'}`;
  const lanOf = (site: 'a' | 'b') => lab.node(`${site}.router`).lan!;
  const prefixes = (site: 'a' | 'b') => [`${lanOf(site).v4!.replace(/\.\d+$/, '.0')}/24`, `${ULA[site]}/64`];

  const startAgent = (node: string, opts: { snat?: boolean; listenPort?: number; withKey?: boolean } = {}): Promise<unknown> => {
    const path = join(dir, `${node}.json`);
    const site = node[0] as 'a' | 'b';
    writeFileSync(
      path,
      JSON.stringify({
        log: { level: 'info' },
        wg: { interface: meshIf(node), listenPort: opts.listenPort ?? 41641 },
        portmap: { enabled: false },
        netcheck: { stunServers: [`${lab.addr('s1')}:3478`] },
        mesh: {
          enabled: true,
          coordinator: coordUrl,
          coordinatorFingerprint: fingerprint,
          hostname: node.replace('.', '-'),
          stateDir: join(dir, node),
          advertiseRoutes: prefixes(site),
          acceptRoutes: true,
          ...(opts.snat === false ? { snatSubnetRoutes: false } : {}),
          // Site B's routers probe b.h1 (no listener: its refusal is the answer) to judge their LAN side.
          ...(site === 'b' ? { routeHealth: { targets: [v4('b.h1'), `[${v6('b.h1')}]:80`] } } : {}),
        },
      }),
    );
    configs.set(node, path);
    const p = lab.spawnConegate(node, ['up', '--foreground', '--config', path, ...(opts.withKey === false ? [] : ['--auth-key', authKey])], { env: { CONEGATE_CONFIG: '' }, description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
    agents.set(node, p);
    return p.waitForOutput(/agent: up/, 60_000, 'stderr');
  };
  const approve = async (node: string) => {
    const id = (await status(node)).mesh.self.id;
    for (const cidr of prefixes(node[0] as 'a' | 'b')) {
      const r = await lab.execConegate('s1', ['coord', 'routes', 'approve', id, cidr, '--admin-socket', adminSocket], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
    }
  };

  before(async () => {
    requirePeers({ ping: 'iputils-ping', nft: 'nftables', openssl: 'openssl', iperf3: 'iperf3' });
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'full-cone', hosts: ['h1'] },
        { name: 'b', nat: 'full-cone', hosts: ['h1', 'h2'] },
      ],
      servers: ['s1'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'subnet-'));
    // The IPv6 ULA LANs: routers .1, hosts ::10, the second router on B ::11; hosts route the other site's ULA via their router.
    for (const site of ['a', 'b'] as const) {
      await lab.exec(`${site}.router`, ['ip', '-6', 'addr', 'add', `${v6(`${site}.router`)}/64`, 'dev', lanOf(site).name, 'nodad'], { check: true });
      const other = site === 'a' ? 'b' : 'a';
      for (const h of site === 'a' ? ['a.h1'] : ['b.h1', 'b.h2']) {
        const ifname = lab.node(h).ifaces[0]!.name;
        await lab.exec(h, ['ip', '-6', 'addr', 'add', `${v6(h)}/64`, 'dev', ifname, 'nodad'], { check: true });
        if (h !== 'b.h2') await lab.exec(h, ['ip', '-6', 'route', 'add', `${ULA[other]}/64`, 'via', v6(`${site}.router`)], { check: true });
      }
      // WireGuard on the router's own WAN port, and the admin's admission of the mesh interface.
      await lab.allowRouterInput(`${site}.router`, 'udp', 41641);
      await lab.exec(`${site}.router`, ['nft', 'insert', 'rule', 'inet', 'lab', 'forward', 'iifname', meshIf(`${site}.router`), 'accept'], { check: true });
    }
    const stun = lab.spawnConegate('s1', ['stun', 'serve', '--listen', `${lab.addr('s1')}:3478`], { env: { CONEGATE_CONFIG: '' }, description: 'conegate stun serve' });
    await stun.waitForOutput(/listening on/, 60_000, 'stdout');
    adminSocket = join(dir, 'coord-admin.sock');
    coord = lab.spawnConegate('s1', ['coord', 'serve', '--listen', `${lab.addr('s1')}:8443`, '--db', join(dir, 'coord-db'), '--self-signed', '--admin-socket', adminSocket, '--json'], {
      env: { CONEGATE_CONFIG: '' },
      description: 'conegate coord serve',
    });
    fingerprint = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!;
    coordUrl = `https://${lab.addr('s1')}:8443`;
    const key = await lab.execConegate('s1', ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', adminSocket], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 });
    assert.equal(key.code, 0, key.stderr);
    authKey = (JSON.parse(key.stdout) as { secret: string }).secret;
    await Promise.all([startAgent('a.router'), startAgent('b.router')]);
    // b.router's routes approved first: it is the only candidate then, so it is B's primary.
    await approve('a.router');
    await approve('b.router');
  });

  after(async () => {
    for (const p of agents.values()) await p.stop();
    await coord?.stop();
    await lab?.destroy();
  });

  it('LAN host A and LAN host B reach each other through both routers: ping v4 and v6 both ways', async () => {
    await waitFor('a.h1 -> b.h1 (IPv4)', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined));
    assert.ok(await ping('b.h1', v4('a.h1')), 'b.h1 -> a.h1 (IPv4)');
    await waitFor('a.h1 -> b.h1 (IPv6 ULA)', async () => ((await ping('a.h1', v6('b.h1'))) ? true : undefined), 20_000);
    assert.ok(await ping('b.h1', v6('a.h1')), 'b.h1 -> a.h1 (IPv6 ULA)');
    // Our rules are in our own table, SNAT on by default.
    const rules = (await lab.exec('b.router', ['nft', 'list', 'table', 'inet', 'conegate_subnet'], { check: true })).stdout;
    assert.match(rules, /masquerade/);
  });

  it('a TCP stream goes through (iperf3, 2 s, IPv4 and IPv6)', async () => {
    for (const target of [v4('b.h1'), v6('b.h1')]) {
      const srv = lab.spawn('b.h1', ['iperf3', '-s', '-1', '--forceflush'], { description: 'iperf3 server' });
      await srv.waitForOutput(/Server listening/, 10_000);
      const r = await lab.exec('a.h1', ['iperf3', '-c', target, '-t', '2', '--json'], { timeoutMs: 30_000 });
      await srv.stop();
      assert.equal(r.code, 0, `iperf3 to ${target}: ${r.stderr}${r.stdout.slice(0, 500)}`);
      const bps = (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
      assert.ok(bps > 0);
      process.stderr.write(`iperf3 a.h1 -> ${target} through both routers: ${(bps / 1e6).toFixed(0)} Mbit/s (shared 2-core machine, noisy)\n`);
    }
  });

  it('conegate up --advertise-routes against the running agent changes them in place; approvals of prefixes still advertised are kept', async () => {
    const extra = '10.1.5.0/24';
    const r = await lab.execConegate('a.router', ['up', '--config', configs.get('a.router')!, '--advertise-routes', [...prefixes('a'), extra].join(','), '--json'], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { advertiseRoutes: string[] }).advertiseRoutes, [...prefixes('a'), extra].sort());
    const id = (await status('a.router')).mesh.self.id;
    const list = async () => {
      const l = await lab.execConegate('s1', ['coord', 'routes', 'list', '--json', '--admin-socket', adminSocket], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 });
      return (JSON.parse(l.stdout) as { nodeId: string; cidr: string; approved: boolean }[]).filter((x) => x.nodeId === id);
    };
    assert.deepEqual(
      (await list()).map((x) => [x.cidr, x.approved]).sort(),
      [...prefixes('a').map((c) => [c, true]), [extra, false]].sort(),
    );
    assert.ok(await ping('b.h1', v4('a.h1')), 'still routed after the change');
    // Back to the two LANs; a second `up` without route flags is refused (exit 1), the agent stays.
    assert.equal((await lab.execConegate('a.router', ['up', '--config', configs.get('a.router')!, '--advertise-routes', prefixes('a').join(',')], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 })).code, 0);
    assert.equal((await lab.execConegate('a.router', ['up', '--config', configs.get('a.router')!], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 })).code, 1);
    assert.deepEqual((await list()).map((x) => x.cidr).sort(), prefixes('a').sort());
  });

  /** Drops everything from `node` to b.h1 (its own probes and what it forwards): a LAN side broken for it alone. */
  const breakLan = (node: string) =>
    lab.nftApply(node, `table inet cgbroken {\n  chain lanout {\n    type filter hook output priority -10; policy accept;\n    ip daddr ${v4('b.h1')} drop\n    ip6 daddr ${v6('b.h1')} drop\n  }\n  chain lanfwd {\n    type filter hook forward priority -10; policy accept;\n    ip daddr ${v4('b.h1')} drop\n    ip6 daddr ${v6('b.h1')} drop\n  }\n}\n`);
  const mendLan = (node: string) => lab.exec(node, ['nft', 'delete', 'table', 'inet', 'cgbroken'], { check: true });

  it('health: the primary\'s LAN side broken (node online): B\'s prefixes move to the second router within 10 s, and back when that one breaks', async () => {
    await startAgent('b.h2', { listenPort: 41642 });
    await approve('b.h2');
    await waitFor('b.h2 routes site A', async () => ((await lab.exec('b.h2', ['ip', 'route', 'show', 'dev', meshIf('b.h2')])).stdout.includes(prefixes('a')[0]!) ? true : undefined));
    await waitFor('a.h1 -> b.h1 through b.router', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined), 20_000);
    const t0 = Date.now();
    await breakLan('b.router');
    await waitFor('a.h1 -> b.h1 through b.h2', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined), 30_000);
    const ms = Date.now() - t0;
    assert.ok(await ping('a.h1', v6('b.h1')), 'IPv6 through b.h2 too');
    const health = (await status('b.router')).components['route-health'] as { unhealthy: string[] };
    assert.deepEqual(health.unhealthy, prefixes('b').sort(), 'b.router reports both of B\'s prefixes unhealthy');
    process.stderr.write(`health failover: B's LAN reachable again ${ms} ms after b.router's LAN side broke (probe 1 s x 2, coordinator grace 1 s; ping every ~1.25 s; shared 2-core machine)\n`);
    // The issue's acceptance bound ("fail over within 10 s, judged by a health probe into the subnet").
    assert.ok(ms <= 10_000, `health failover took ${ms} ms`);
    // b.router mended, b.h2 broken: the prefixes go back to b.router (healthy and online).
    await mendLan('b.router');
    const t1 = Date.now();
    await breakLan('b.h2');
    await waitFor('a.h1 -> b.h1 through b.router again', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined), 30_000);
    process.stderr.write(`health failover back: ${Date.now() - t1} ms\n`);
    await mendLan('b.h2');
    await waitFor('b.h2 healthy again', async () => (((await status('b.h2')).components['route-health'] as { unhealthy: string[] }).unhealthy.length === 0 ? true : undefined), 20_000);
  });

  it('failover: kill -9 of the primary router; B\'s LAN is reachable again through the second router', async () => {
    // b.h2 must not route its own LAN into the mesh, and must know a.router's LAN.
    const h2Routes = (await lab.exec('b.h2', ['ip', 'route', 'show', 'dev', meshIf('b.h2')])).stdout;
    assert.doesNotMatch(h2Routes, new RegExp(prefixes('b')[0]!.replace(/\./g, '\\.')));
    await waitFor('b.h2 routes site A', async () => ((await lab.exec('b.h2', ['ip', 'route', 'show', 'dev', meshIf('b.h2')])).stdout.includes(prefixes('a')[0]!) ? true : undefined));
    assert.ok(await ping('a.h1', v4('b.h1')), 'still through b.router');
    const t0 = Date.now();
    process.kill(agents.get('b.router')!.pid, 'SIGKILL');
    await waitFor('a.h1 -> b.h1 through b.h2', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined), 30_000);
    const ms = Date.now() - t0;
    assert.ok(await ping('a.h1', v6('b.h1')), 'IPv6 through b.h2 too');
    const moved = await coord.waitForOutput(/\{[^\n]*"msg":"coord: subnet route primaries changed"[^\n]*"moved"[^\n]*\}/, 5_000, 'stderr').catch(() => undefined);
    process.stderr.write(`failover: B's LAN reachable again ${ms} ms after kill -9 of the primary (grace 6 s; ping every ~1 s; shared 2-core machine)\n`);
    // The issue's acceptance bound (router failover within 10 s).
    assert.ok(ms <= 10_000, `failover took ${ms} ms`);
    if (moved) assert.ok(moved[0].length > 0);
  });

  it('SNAT off: the LAN host needs a route back to the mesh sites via the router', async () => {
    await agents.get('b.h2')!.stop();
    await startAgent('b.h2', { listenPort: 41642, snat: false, withKey: false });
    const rules = (await lab.exec('b.h2', ['nft', 'list', 'table', 'inet', 'conegate_subnet'], { check: true })).stdout;
    assert.doesNotMatch(rules, /masquerade/);
    await waitFor('b.h2 routes site A again', async () => ((await lab.exec('b.h2', ['ip', 'route', 'show', 'dev', meshIf('b.h2')])).stdout.includes(prefixes('a')[0]!) ? true : undefined));
    // b.h1 answers a.h1's own address through its default gateway (b.router), which routes nothing for the mesh now.
    for (let i = 0; i < 3; i++) assert.equal(await ping('a.h1', v4('b.h1')), false, 'no answer without a route back');
    await lab.exec('b.h1', ['ip', 'route', 'add', prefixes('a')[0]!, 'via', v4('b.h2')], { check: true });
    await waitFor('a.h1 -> b.h1 with the route back', async () => ((await ping('a.h1', v4('b.h1'))) ? true : undefined), 20_000);
  });

  it('down removes the forwarding rules', async () => {
    const r = await lab.execConegate('b.h2', ['down', '--config', configs.get('b.h2')!], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    await agents.get('b.h2')!.done;
    const t = await lab.exec('b.h2', ['nft', 'list', 'table', 'inet', 'conegate_subnet']);
    assert.notEqual(t.code, 0, 'our table is gone');
  });
});
