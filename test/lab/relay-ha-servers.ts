/**
 * The servers the relay high-availability lab test needs on the lab internet: the coordinator on s1:443
 * with a relay map of one region (r1) holding two relays, and two `conegate relay serve` on s2:443 and
 * s3:443 that share a mesh key and name each other as --mesh-peer (pinned), both admitted by the
 * coordinator. Each relay runs once first to make its self-signed certificate, whose pin goes into the
 * relay map (with its server key, which the nodes then check at login) and into the other relay's
 * --mesh-peer. Every process goes into `procs` (the caller stops
 * them by PID); the relays are returned so the test can kill one.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

export interface HaServers {
  coordFp: string;
  authKey: string;
  /** relay serve on s2 (first in the region) and on s3. */
  relays: [LabProcess, LabProcess];
  urls: [string, string];
  /** Starts relay i again (same state dir: same key and certificate); the new process replaces relays[i]. */
  restart(i: 0 | 1): Promise<LabProcess>;
}

export async function startHaServers(lab: Lab, dir: string, procs: LabProcess[]): Promise<HaServers> {
  const s1 = lab.addr('s1');
  const hosts = ['s2', 's3'] as const;
  writeFileSync(join(dir, 'allow-none'), '');
  writeFileSync(join(dir, 'mesh-key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const urls = hosts.map((h) => `https://${lab.addr(h)}:443`) as [string, string];
  const fps: string[] = [];
  const keys: string[] = [];
  for (const h of hosts) {
    const first = lab.spawnConegate(h, ['relay', 'serve', '--listen', `${lab.addr(h)}:443`, '--self-signed', '--state-dir', join(dir, `relay-${h}`), '--region', 'r1', '--admission-allow-file', join(dir, 'allow-none'), '--json'], { description: `conegate relay serve on ${h} (certificate)` });
    fps.push((await first.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!);
    keys.push((await first.waitForOutput(/"serverKey": "([0-9a-f]{64})"/, 10_000, 'stdout'))[1]!);
    await first.stop();
  }
  writeFileSync(join(dir, 'relays.json'), JSON.stringify({ regions: [{ id: 'r1', name: 'lab', nodes: urls.map((url, i) => ({ url, certSha256: fps[i], serverKey: keys[i] })) }] }));
  const adminSocket = join(dir, 'coord-admin.sock');
  const secret = join(dir, 'relay-secret');
  const coord = lab.spawnConegate('s1', ['coord', 'serve', '--listen', `${s1}:443`, '--db', join(dir, 'coord-db'), '--self-signed', '--admin-socket', adminSocket, '--relay-map', join(dir, 'relays.json'), '--relay-secret-file', secret, '--json'], { description: 'conegate coord serve' });
  procs.push(coord);
  const coordFp = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!;
  const spawnRelay = (i: number) => {
    const h = hosts[i]!;
    const other = 1 - i;
    const p = lab.spawnConegate(
      h,
      ['relay', 'serve', '--listen', `${lab.addr(h)}:443`, '--self-signed', '--state-dir', join(dir, `relay-${h}`), '--region', 'r1', '--coordinator', `https://${s1}:443`, '--coordinator-fingerprint', coordFp, '--coordinator-secret-file', secret, '--mesh-key-file', join(dir, 'mesh-key'), '--mesh-peer', `${urls[other]}#sha256=${fps[other]}`, '--json'],
      { description: `conegate relay serve on ${h}` },
    );
    procs.push(p);
    return p;
  };
  const relays = [spawnRelay(0), spawnRelay(1)] as [LabProcess, LabProcess];
  for (const r of relays) await r.waitForOutput(/"fingerprint"/, 60_000, 'stdout');
  // Meshed: each relay logged its link to the other (mesh.ts "relay mesh: linked").
  for (const r of relays) await r.waitForOutput(/relay mesh: linked/, 30_000);
  const key = await lab.execConegate('s1', ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', adminSocket], { timeoutMs: 30_000 });
  if (key.code !== 0) throw new Error(`coord authkey create: ${key.stderr}`);
  const restart = async (i: 0 | 1) => {
    const p = spawnRelay(i);
    relays[i] = p;
    await p.waitForOutput(/"fingerprint"/, 60_000, 'stdout');
    return p;
  };
  return { coordFp, authKey: (JSON.parse(key.stdout) as { secret: string }).secret, relays, urls, restart };
}
