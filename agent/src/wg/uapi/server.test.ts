import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { statSync, readdirSync } from 'node:fs';
import { createConnection, Server } from 'node:net';
import { dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConegateError } from '../../errors.ts';
import { UAPI_ERRNO, UapiError, type UapiGet, type UapiSet } from './protocol.ts';
import { UapiServer, UapiSession, type UapiHost } from './server.ts';

class FakeHost implements UapiHost {
  sets: UapiSet[] = [];
  state: UapiGet = { listenPort: 51820, fwmark: 0, peers: [] };
  failWith: number | undefined;
  get(): UapiGet {
    return this.state;
  }
  set(request: UapiSet): void {
    if (this.failWith) throw new UapiError(this.failWith, 'refused');
    this.sets.push(request);
  }
}

function session(host: UapiHost) {
  const out: string[] = [];
  let ended = false;
  const s = new UapiSession(host, (t) => out.push(t), () => (ended = true));
  return { s, out, ended: () => ended };
}

describe('UapiSession', () => {
  it('answers get and set, several requests on one connection, split across chunks', async () => {
    const host = new FakeHost();
    const { s, out, ended } = session(host);
    s.feed('get=1\n');
    s.feed('\nset=1\nlisten_port=1');
    s.feed('234\n\nget=1\n\n');
    await s.idle();
    assert.deepEqual(out, ['listen_port=51820\nerrno=0\n\n', 'errno=0\n\n', 'listen_port=51820\nerrno=0\n\n']);
    assert.equal(host.sets[0]?.listenPort, 1234);
    assert.equal(ended(), false);
  });

  it('answers errno=22 for a bad set and applies nothing of it', async () => {
    const host = new FakeHost();
    const { s, out } = session(host);
    s.feed('set=1\nlisten_port=1\nbogus=1\n\n');
    await s.idle();
    assert.deepEqual(out, ['errno=22\n\n']);
    assert.equal(host.sets.length, 0);
  });

  it('passes the host errno through (EADDRINUSE)', async () => {
    const host = new FakeHost();
    host.failWith = UAPI_ERRNO.EADDRINUSE;
    const { s, out } = session(host);
    s.feed('set=1\nlisten_port=1\n\n');
    await s.idle();
    assert.deepEqual(out, ['errno=98\n\n']);
  });

  it('ends the connection on an unknown operation or an endless line', async () => {
    for (const input of ['hello=1\n', 'x'.repeat(5000), 'get=1\nextra=1\n']) {
      const { s, out, ended } = session(new FakeHost());
      s.feed(input);
      await s.idle();
      assert.equal(out.length, 1, input.slice(0, 20));
      assert.match(out[0] ?? '', /^errno=(22|71)\n\n$/);
      assert.equal(ended(), true);
    }
  });
});

function request(path: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
      if (/errno=\d+\n\n$/.test(got)) {
        c.end();
        resolve(got);
      }
    });
    c.on('error', reject);
    c.write(text);
  });
}

describe('UapiServer', () => {
  it('serves on <dir>/<if>.sock with mode 0600, replaces a stale file, removes it on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cg-uapi-'));
    try {
      await writeFile(join(dir, 'cgt0.sock'), '');
      const host = new FakeHost();
      const server = await UapiServer.listen('cgt0', host, { dir });
      assert.equal((await stat(server.path)).mode & 0o777, 0o600);
      assert.equal(await request(server.path, 'get=1\n\n'), 'listen_port=51820\nerrno=0\n\n');
      await assert.rejects(UapiServer.listen('cgt0', host, { dir }), (e) => isConegateError(e) && e.code === 'CG_BUSY');
      await server.close();
      await server.close();
      await assert.rejects(stat(server.path));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates the socket where nobody else can reach it before it is 0600 (private 0700 directory)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cg-uapi-'));
    await chmod(dir, 0o755); // as /var/run/wireguard is
    const listen = Server.prototype.listen;
    const seen: { path: string; reachable: boolean }[] = [];
    // At the moment listen() creates the socket file its mode is 0777 & ~umask; it must sit in a
    // directory others cannot enter, or be made under a umask that clears group and other bits.
    Server.prototype.listen = function (this: Server, ...args: unknown[]) {
      const path = args[0];
      if (typeof path === 'string') {
        const parentOpen = (statSync(dirname(path)).mode & 0o077) !== 0;
        const umask = process.umask();
        seen.push({ path, reachable: parentOpen && (umask & 0o077) !== 0o077 });
      }
      return (listen as (...a: unknown[]) => Server).apply(this, args);
    } as typeof Server.prototype.listen;
    try {
      const server = await UapiServer.listen('cgt1', new FakeHost(), { dir });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.reachable, false, `socket created reachable at ${seen[0]!.path}`);
      assert.equal((await stat(server.path)).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['cgt1.sock'], 'the private directory is gone');
      assert.equal(await request(server.path, 'get=1\n\n'), 'listen_port=51820\nerrno=0\n\n');
      await server.close();
    } finally {
      Server.prototype.listen = listen;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
