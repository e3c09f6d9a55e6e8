/** `conegate fleet status` / `fleet exec` as a user runs them: exit status, per-host errors, usage. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConegate } from '../../../../test/conegate.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-fleet-cli-'));
let inventory: string;
let knownHosts: string;
before(async () => {
  // A loopback port nothing listens on: bound, then closed.
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  inventory = join(dir, 'hosts.ini');
  writeFileSync(inventory, `[routers]\nr1 ansible_host=127.0.0.1 ansible_port=${port}\nr2 ansible_host=127.0.0.1 ansible_port=${port}\n`);
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, '');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('fleet status: an unreachable host is reported per host and the exit status is 1', async () => {
  const r = await runConegate(['fleet', 'status', '--inventory', inventory, '--known-hosts', knownHosts, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; hosts: { host: string; reachable: boolean; error?: { code: string } }[] };
  assert.equal(out.ok, false);
  assert.deepEqual(out.hosts.map((h) => [h.host, h.reachable, h.error?.code]), [['r1', false, 'CG_NETWORK'], ['r2', false, 'CG_NETWORK']]);
  assert.match(r.stderr, /2 of 2 hosts unreachable or unhealthy: r1, r2/);
  const human = await runConegate(['fleet', 'status', '--inventory', inventory, '--known-hosts', knownHosts, '--limit', 'r2']);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /^r2 +- +- +unreachable .*unreachable: cannot reach 127\.0\.0\.1:\d+/m);
  assert.match(human.stdout, /^1 host: 0 healthy, 1 unreachable$/m);
});

test('fleet exec: the subcommand after --, unreachable hosts per host (exit 1); no subcommand or no match is bad usage (exit 2)', async () => {
  const r = await runConegate(['fleet', 'exec', '--inventory', inventory, '--known-hosts', knownHosts, '--', 'status', '--json']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^r1 \| UNREACHABLE \| cannot reach 127\.0\.0\.1:\d+/m);
  assert.match(r.stdout, /^2 hosts: 0 ok, 2 failed$/m);
  assert.equal((await runConegate(['fleet', 'exec', '--inventory', inventory, '--known-hosts', knownHosts])).code, 2);
  const nomatch = await runConegate(['fleet', 'exec', '--inventory', inventory, '--limit', 'nothere', '--', 'status']);
  assert.equal(nomatch.code, 2);
  assert.match(nomatch.stderr, /--limit 'nothere' matched no host/);
  assert.equal((await runConegate(['fleet', 'status', '--inventory', join(dir, 'missing.ini')])).code, 2);
});
