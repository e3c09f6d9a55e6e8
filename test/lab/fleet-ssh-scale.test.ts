// The sshd fixture at fleet scale (issue #20): 20 fake routers, each with its own sshd and host key,
// reached by the controller with a bounded number of parallel connections ("forks"), connect + exec.
// The elapsed times go to stderr for the report; nothing here asserts a duration.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectSsh } from '../../agent/src/fleet/ssh-remote.ts';
import { createLab, type Lab } from './lab.ts';
import { labDial, makeClientKey, requireSshPeers, startSshd, type SshdHost } from './sshd.ts';

const HOSTS = 20;

async function withForks<T, R>(items: T[], forks: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(forks, items.length) }, worker));
  return out;
}

describe('20 sshd routers, connect + exec with forks', () => {
  let lab: Lab;
  let hosts: SshdHost[];
  let keyFile: string;

  before(async () => {
    requireSshPeers();
    const t0 = performance.now();
    lab = await createLab({ sites: Array.from({ length: HOSTS }, (_, i) => ({ name: `r${i + 1}`, nat: 'full-cone' as const })), servers: ['s1'] });
    ({ keyFile } = await makeClientKey(join(lab.workDir, 'controller')));
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    hosts = await Promise.all(lab.spec.sites.map((s, i) => startSshd(lab, `${s.name}.router`, pub, { shell: i % 2 ? 'tcsh' : 'sh', keyTypes: ['ed25519'] })));
    process.stderr.write(`fleet-ssh-scale: lab + ${HOSTS} sshd up in ${Math.round(performance.now() - t0)} ms\n`);
  });

  after(async () => {
    await lab?.destroy();
  });

  for (const forks of [5, 20]) {
    it(`every host answers with forks=${forks}`, async () => {
      const dial = labDial(lab, 's1');
      const t0 = performance.now();
      const names = await withForks(hosts, forks, async (h) => {
        const r = await connectSsh(h.fleetHost(keyFile), { pinnedKey: h.hostKeys.ed25519!, acceptNew: false }, { dial, connectTimeoutMs: 30_000 });
        try {
          const res = await r.exec('/bin/sh -s', { stdin: 'echo "$(id -u) $SHELL"\n', timeoutMs: 30_000 });
          return `${h.node} ${res.code} ${res.stdout.trim()}`;
        } finally {
          await r.close();
        }
      });
      process.stderr.write(`fleet-ssh-scale: ${HOSTS} hosts connect + exec, forks=${forks}: ${Math.round(performance.now() - t0)} ms (shared 2-core machine)\n`);
      assert.deepEqual(names, hosts.map((h, i) => `${h.node} 0 0 ${i % 2 ? '/usr/bin/tcsh' : '/bin/sh'}`));
    });
  }
});
