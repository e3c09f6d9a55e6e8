/**
 * The servers a mesh lab test needs on the lab internet: STUN on s1 (3478, 3479), the coordinator on
 * s1:443 with a relay map, and `conegate relay serve` on s2:443 (region r1) admitted by the coordinator.
 * The relay runs once first to make its self-signed certificate, whose pin goes into the relay map.
 * Every process goes into `procs` (the caller stops them by PID). Resolves with the coordinator's pin
 * and a reusable auth key.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

export async function startMeshServers(lab: Lab, dir: string, procs: LabProcess[]): Promise<{ coordFp: string; authKey: string }> {
  const s1 = lab.addr('s1');
  const s2 = lab.addr('s2');
  for (const port of [3478, 3479]) {
    const stun = lab.spawnConegate('s1', ['stun', 'serve', '--listen', `${s1}:${port}`], { description: `conegate stun serve :${port}` });
    procs.push(stun);
    await stun.waitForOutput(/listening on/, 60_000, 'stdout');
  }
  // The relay's self-signed certificate (kept in its state dir) goes into the relay map first.
  const relayState = join(dir, 'relay');
  writeFileSync(join(dir, 'allow-none'), '');
  const first = lab.spawnConegate('s2', ['relay', 'serve', '--listen', `${s2}:443`, '--self-signed', '--state-dir', relayState, '--region', 'r1', '--admission-allow-file', join(dir, 'allow-none'), '--json'], { description: 'conegate relay serve (certificate)' });
  const relayFp = (await first.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!;
  await first.stop();
  writeFileSync(join(dir, 'relays.json'), JSON.stringify({ regions: [{ id: 'r1', name: 'lab', nodes: [{ url: `https://${s2}:443`, certSha256: relayFp }] }] }));
  const adminSocket = join(dir, 'coord-admin.sock');
  const secret = join(dir, 'relay-secret');
  const coord = lab.spawnConegate('s1', ['coord', 'serve', '--listen', `${s1}:443`, '--db', join(dir, 'coord-db'), '--self-signed', '--admin-socket', adminSocket, '--relay-map', join(dir, 'relays.json'), '--relay-secret-file', secret, '--json'], { description: 'conegate coord serve' });
  procs.push(coord);
  const coordFp = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 60_000, 'stdout'))[1]!;
  const relay = lab.spawnConegate('s2', ['relay', 'serve', '--listen', `${s2}:443`, '--self-signed', '--state-dir', relayState, '--region', 'r1', '--coordinator', `https://${s1}:443`, '--coordinator-fingerprint', coordFp, '--coordinator-secret-file', secret, '--json'], { description: 'conegate relay serve' });
  procs.push(relay);
  await relay.waitForOutput(/"fingerprint"/, 60_000, 'stdout');
  const key = await lab.execConegate('s1', ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', adminSocket], { timeoutMs: 30_000 });
  if (key.code !== 0) throw new Error(`coord authkey create: ${key.stderr}`);
  return { coordFp, authKey: (JSON.parse(key.stdout) as { secret: string }).secret };
}
