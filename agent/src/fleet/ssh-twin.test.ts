import { after, describe } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remoteHostCompliance } from './remote-host-compliance.ts';
import { LocalRemoteHost } from './ssh-twin.ts';

describe('LocalRemoteHost (the twin)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-twin-'));
  const hosts: LocalRemoteHost[] = [];
  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    rmSync(root, { recursive: true, force: true });
  });
  remoteHostCompliance('twin', async () => {
    const host = new LocalRemoteHost({ root });
    hosts.push(host);
    return { host, dir: root };
  });
});
