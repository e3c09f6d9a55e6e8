// The relay client through an HTTP proxy in the netns lab (issue 17, "a VM that can only reach the
// internet through a proxy"): the relay server on s1 (TLS, pinned self-signed certificate), Debian's
// tinyproxy with BasicAuth on s2, and a.h1 behind a NAT whose router drops every direct TCP connection
// to the relay. a.h1's client, given the proxy by HTTPS_PROXY, logs in and exchanges packets with a
// client on s2 that connects directly; with a wrong proxy password the dial fails with CG_PROXY_REFUSED
// and a message that names the refused credentials (and never the password).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { selfSignedCert } from '../fakes/tls-cert.ts';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';

const PEER = 'test/lab/relay-proxy-peer.ts';
const PROXY_PORT = 8888;

interface ClientResult {
  heard: number;
  connected: boolean;
  viaProxy?: boolean;
  transport?: string;
  lastError?: string;
}

describe('relay client through an HTTP proxy (tinyproxy) in the netns lab', () => {
  let lab: Lab;
  let relayUrl: string;
  let pin: string;
  let proxyHost: string;
  const password = randomBytes(9).toString('base64url');
  const keys = { a: x25519.utils.randomSecretKey(), b: x25519.utils.randomSecretKey() };
  const pub = (s: Uint8Array) => Buffer.from(x25519.getPublicKey(s)).toString('hex');
  const files: Record<string, string> = {};
  const procs: LabProcess[] = [];

  before(async () => {
    requirePeers({ tinyproxy: 'tinyproxy', openssl: 'openssl', nft: 'nftables' });
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1', 's2'] });
    const dir = lab.workDir;
    const relayAddr = lab.addr('s1');
    proxyHost = lab.addr('s2');
    relayUrl = `https://${relayAddr}:443`;
    const cert = await selfSignedCert([`IP:${relayAddr}`]);
    pin = cert.fingerprint;
    const write = (name: string, text: string) => {
      files[name] = join(dir, name);
      writeFileSync(files[name]!, text, { mode: 0o600 });
    };
    write('cert.pem', cert.cert);
    write('key.pem', cert.key);
    write('a.key', Buffer.from(keys.a).toString('hex'));
    write('b.key', Buffer.from(keys.b).toString('hex'));
    write('allow', `${pub(keys.a)}\n${pub(keys.b)}\n`);
    write('tinyproxy.conf', [`Port ${PROXY_PORT}`, `Listen ${proxyHost}`, 'Timeout 60', 'MaxClients 16', 'ConnectPort 443', `BasicAuth alice ${password}`, 'LogLevel Info', ''].join('\n'));

    const relay = lab.spawnNode('s1', PEER, ['relay', '--listen', relayAddr, '--port', '443', '--cert', files['cert.pem']!, '--key', files['key.pem']!, '--allow-file', files.allow!], { description: 'relay server on s1' });
    procs.push(relay);
    await relay.waitForOutput(/relay: listening/, 60_000);
    const proxy = lab.spawn('s2', ['tinyproxy', '-d', '-c', files['tinyproxy.conf']!], { description: 'tinyproxy on s2' });
    procs.push(proxy);
    await proxy.waitForOutput(/trying to listen on host\[/, 10_000, 'stderr').catch(() => proxy.waitForOutput(/trying to listen on host\[/, 1, 'stdout'));
    // a.h1 may reach the relay only through the proxy: the site router drops direct TCP to s1.
    await lab.nftApply('a.router', `table inet cg_relay_proxy {\n chain block_relay {\n  type filter hook forward priority -5; policy accept;\n  ip daddr { ${relayAddr}, ${lab.addr('s1', { alt: true })} } tcp dport 443 drop\n }\n}\n`);
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await lab?.destroy();
  });

  const dial = async (node: string, proxy: string) => {
    const r = await lab.execNode(node, PEER, ['dial', '--url', relayUrl, '--pin', pin, '--proxy', proxy, '--timeout-ms', '4000'], { timeoutMs: 60_000 });
    return { code: r.code, out: JSON.parse(r.stdout.trim().split('\n').at(-1) || '{}') as { ok: boolean; code?: string; message?: string }, stderr: r.stderr };
  };

  it('a.h1 cannot reach the relay directly (the lab firewall drops it)', async () => {
    const r = await dial('a.h1', 'none');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.out.ok, false);
    assert.equal(r.out.code, 'CG_TIMEOUT', r.out.message);
  });

  it('through the proxy (HTTPS_PROXY with user:password) a.h1 logs in and exchanges packets with s2', async () => {
    const proxyUrl = `http://alice:${password}@${proxyHost}:${PROXY_PORT}`;
    const run = (node: string, key: string, peer: string, env: Record<string, string>, proxyArg: string[]) =>
      lab.execNode(node, PEER, ['client', '--secret-file', key, '--url', relayUrl, '--pin', pin, '--peer', peer, ...proxyArg], { timeoutMs: 90_000, env });
    const [a, b] = await Promise.all([
      run('a.h1', files['a.key']!, pub(keys.b), { HTTPS_PROXY: proxyUrl, NO_PROXY: '' }, []),
      run('s2', files['b.key']!, pub(keys.a), {}, ['--proxy', 'none']),
    ]);
    const ra = JSON.parse(a.stdout.trim().split('\n').at(-1) || '{}') as ClientResult;
    const rb = JSON.parse(b.stdout.trim().split('\n').at(-1) || '{}') as ClientResult;
    assert.equal(a.code, 0, `a.h1: ${a.stdout} ${a.stderr}`);
    assert.equal(b.code, 0, `s2: ${b.stdout} ${b.stderr}`);
    assert.ok(ra.heard > 0 && rb.heard > 0);
    assert.equal(ra.viaProxy, true);
    assert.equal(rb.viaProxy, false);
    assert.doesNotMatch(a.stdout + a.stderr, new RegExp(password), 'the proxy password is never printed');
  });

  it('a wrong proxy password is a clear CG_PROXY_REFUSED error that does not repeat it', async () => {
    const r = await dial('a.h1', `http://alice:not-${password}@${proxyHost}:${PROXY_PORT}`);
    assert.equal(r.code, 1);
    assert.equal(r.out.code, 'CG_PROXY_REFUSED', r.out.message);
    assert.match(r.out.message ?? '', /refused the credentials/);
    assert.doesNotMatch(r.out.message ?? '', new RegExp(password));
    const none = await dial('a.h1', `http://${proxyHost}:${PROXY_PORT}`);
    assert.equal(none.out.code, 'CG_PROXY_REFUSED');
    assert.match(none.out.message ?? '', /requires authentication/);
  });
});
