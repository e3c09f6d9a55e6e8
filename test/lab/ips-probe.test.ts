// `conegate ips probe` against a real path: a host behind a NAT router probes a responder on an
// internet server. Then the router gets an nftables rule that drops WireGuard-shaped UDP (a stand-in
// for an IPS signature: UDP payload of 148 bytes starting 01 00 00 00), and the probe must report
// exactly that kind as blocked and the others as passing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

const PORT = '41641';

interface ProbeJson {
  results: { kind: string; verdict: string; sent: number; arrived: number }[];
  blocked: string[];
}

describe('ips probe in the lab', () => {
  let lab: Lab;
  let responder: LabProcess;

  before(async () => {
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
    responder = lab.spawnConegate('s1', ['ips', 'responder', '--listen', `${lab.addr('s1')}:${PORT}`, '--duration', '120']);
    await responder.waitForOutput(/listening on/, 15_000, 'stderr');
  });

  after(async () => {
    await lab?.destroy();
  });

  async function probe(): Promise<{ code: number | null; report: ProbeJson }> {
    const r = await lab.execConegate('a.h1', ['ips', 'probe', '--peer', `${lab.addr('s1')}:${PORT}`, '--attempts', '3', '--interval', '50', '--timeout', '1000', '--json'], { timeoutMs: 30_000 });
    assert.ok(r.stdout.trim().startsWith('{'), `probe printed JSON (stderr: ${r.stderr})`);
    return { code: r.code, report: JSON.parse(r.stdout) as ProbeJson };
  }

  it('a clean path: every kind passes, exit 0', async () => {
    const { code, report } = await probe();
    assert.deepEqual(report.results.map((x) => [x.kind, x.verdict]), [['stun', 'passes'], ['wireguard', 'passes'], ['relay', 'passes']]);
    assert.equal(code, 0);
  });

  it('the router drops WireGuard-shaped UDP: exactly wireguard is reported blocked, exit 1', async () => {
    await lab.nftApply('a.router', `
table inet ipsstandin {
  chain forward {
    type filter hook forward priority -10; policy accept;
    udp length 156 @th,64,32 0x01000000 counter drop
  }
}
`);
    const { code, report } = await probe();
    assert.deepEqual(report.results.map((x) => [x.kind, x.verdict]), [['stun', 'passes'], ['wireguard', 'blocked'], ['relay', 'passes']]);
    assert.deepEqual(report.blocked, ['wireguard']);
    const wg = report.results.find((x) => x.kind === 'wireguard')!;
    assert.deepEqual([wg.sent, wg.arrived], [3, 0]);
    assert.equal(code, 1);
    // The rule really dropped them: its counter saw the three initiations.
    const ruleset = await lab.nftList('a.router');
    const m = /counter packets (\d+)[^\n]*drop/.exec(ruleset);
    assert.ok(m && Number(m[1]) === 3, `nft counter: ${ruleset}`);
  });
});
