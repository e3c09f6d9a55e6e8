// `conegate fleet status` and `conegate fleet exec` (issue #20) as an admin runs them, against real
// OpenSSH servers in lab namespaces: router a's root logs in with /bin/sh (an OPNsense tree), router
// b's with tcsh (a Linux tree; tcsh like OPNsense's root shell). The CLI runs in the internet server
// s1's namespace, so it reaches the routers' sshd directly; a third inventory host points at a port
// nothing listens on, a fourth pins router a's key but points at router b. Each router's `conegate` is a stand-in script under its fake root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createLab, type Lab } from './lab.ts';
import { knownHostsFor, makeClientKey, requireSshPeers, startSshd, type SshdHost } from './sshd.ts';

function put(root: string, path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  chmodSync(join(root, path), mode);
}

/** `status --json` answers like a running agent (version, one direct and one relayed peer); anything else echoes its arguments. */
const standIn = (version: string) => `#!/bin/sh
if [ "$1" = status ]; then
cat <<'J'
{
  "pid": 1,
  "version": "${version}",
  "components": { "trim": { "rssMb": 61.5 } },
  "mesh": {
    "coordinator": { "phase": "streaming", "lastError": null },
    "peers": [
      { "name": "hq", "online": true, "path": { "kind": "direct", "endpoint": "198.51.100.2:41641", "region": null, "rttMs": 4 } },
      { "name": "shop", "online": true, "path": { "kind": "tcp-relay", "endpoint": null, "region": "fra", "rttMs": 20 } }
    ]
  }
}
J
exit 0
fi
for a in "$@"; do printf '[%s]\\n' "$a"; done
echo "shell: $0" >&2
`;

describe('fleet status and fleet exec against real sshd', () => {
  let lab: Lab;
  let sh: SshdHost;
  let csh: SshdHost;
  let inventory: string;
  let knownHosts: string;

  before(async () => {
    requireSshPeers();
    lab = await createLab({ sites: [{ name: 'a', nat: 'full-cone' }, { name: 'b', nat: 'full-cone' }], servers: ['s1'] });
    const work = join(lab.workDir, 'controller');
    const { keyFile } = await makeClientKey(work);
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    sh = await startSshd(lab, 'a.router', pub, { shell: 'sh' });
    csh = await startSshd(lab, 'b.router', pub, { shell: 'tcsh' });
    put(sh.root, 'usr/local/opnsense/version/core', '{"product_name":"OPNsense","product_version":"25.7.6"}\n');
    put(sh.root, 'usr/local/bin/conegate', standIn('1.4.0'), 0o755);
    put(csh.root, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
    put(csh.root, 'usr/bin/conegate', standIn('1.3.9'), 0o755);
    knownHosts = join(work, 'known_hosts');
    writeFileSync(knownHosts, knownHostsFor([sh, csh]));
    inventory = join(work, 'hosts.ini');
    writeFileSync(
      inventory,
      [
        '[routers]',
        `fw-a ansible_host=${sh.address} conegate_root=${sh.root}`,
        `fw-b ansible_host=${csh.address} conegate_root=${csh.root}`,
        `fw-gone ansible_host=${sh.address} ansible_port=2299`,
        // Pinned to router a's key but pointing at router b: a changed key, refused.
        `fw-imposter ansible_host=${csh.address} conegate_host_key="${sh.hostKeys.ed25519}"`,
        '[routers:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${keyFile}`,
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await lab?.destroy();
  });

  it('fleet status: version, health, peers, direct share and paths per host; the unreachable one is named and the exit status is 1', async () => {
    const r = await lab.execConegate('s1', ['fleet', 'status', '--inventory', inventory, '--known-hosts', knownHosts, '--timeout', '5', '--json'], { timeoutMs: 90_000 });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; hosts: { host: string; reachable: boolean; platform?: string; health: { ok: boolean }; sample?: { version?: string; peersUp: number; directShare: number; rssMB: number | null }; error?: { code: string } }[] };
    const [a, b, gone, imposter] = out.hosts;
    assert.deepEqual([a!.host, a!.reachable, a!.platform, a!.health.ok, a!.sample?.version, a!.sample?.peersUp, a!.sample?.directShare, a!.sample?.rssMB], ['fw-a', true, 'opnsense', true, '1.4.0', 2, 0.5, 61.5]);
    assert.deepEqual([b!.host, b!.platform, b!.health.ok, b!.sample?.version], ['fw-b', 'linux', true, '1.3.9'], 'through a tcsh login shell');
    // The router's input filter drops the port: the dial times out (bounded by --timeout).
    assert.deepEqual([gone!.host, gone!.reachable, gone!.error?.code], ['fw-gone', false, 'CG_TIMEOUT']);
    assert.deepEqual([imposter!.host, imposter!.reachable, imposter!.error?.code], ['fw-imposter', false, 'CG_HOST_KEY_CHANGED']);
    assert.match(r.stderr, /2 of 4 hosts unreachable or unhealthy: fw-gone, fw-imposter/);

    const human = await lab.execConegate('s1', ['fleet', 'status', '--inventory', inventory, '--known-hosts', knownHosts, '--limit', 'fw-a:fw-b'], { timeoutMs: 90_000 });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^fw-b +linux +1\.3\.9 +ok +2\/2 +50% +- +62MB +hq direct 198\.51\.100\.2:41641 4ms, shop tcp-relay fra 20ms$/m);
  });

  it('fleet exec: the arguments arrive exactly as given under sh and tcsh login shells (quotes, $, !, spaces); output and exit status per host', async () => {
    const args = ['control', `{"cmd":"ping","x":"it's $HOME !! \`id\`"}`, 'two words', '--json'];
    const r = await lab.execConegate('s1', ['fleet', 'exec', '--inventory', inventory, '--known-hosts', knownHosts, '--limit', 'fw-a:fw-b', '--json', '--', ...args], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; hosts: { host: string; code: number; stdout: string; stderr: string }[] };
    const expected = args.map((a) => `[${a}]\n`).join('');
    assert.deepEqual(out.hosts.map((h) => [h.host, h.code, h.stdout]), [['fw-a', 0, expected], ['fw-b', 0, expected]]);
    const all = await lab.execConegate('s1', ['fleet', 'exec', '--inventory', inventory, '--known-hosts', knownHosts, '--timeout', '5', '--', 'version'], { timeoutMs: 90_000 });
    assert.equal(all.code, 1);
    assert.match(all.stdout, /^fw-gone \| UNREACHABLE \| no TCP connection to [\d.]+:2299 within 5000 ms$/m);
    assert.match(all.stdout, /^fw-imposter \| UNREACHABLE \| fw-imposter: HOST KEY CHANGED for /m);
    assert.match(all.stdout, /^4 hosts: 2 ok, 2 failed$/m);
  });
});
