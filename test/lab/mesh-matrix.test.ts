// The mesh NAT matrix (#18 acceptance) in the netns lab: one lab, one `conegate up` node per NAT kind,
// every pair at once (test/lab/mesh-matrix.ts). Each cell must match its expectation: direct on every pair
// but hard+hard (both-hard) and UDP blocked (udp-blocked), pings through on every pair. The table and the
// JSON report go to stderr and the run dir.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { expectFor, formatMatrix, MATRIX_NODES, runMatrixLab } from './mesh-matrix.ts';
import { requirePeers } from './require-peers.ts';

describe('mesh NAT matrix in the netns lab', () => {
  it('expectations: relayed only for hard+hard and UDP blocked; birthday only for hard against APDF filtering', () => {
    const n = (name: string) => MATRIX_NODES.find((x) => x.node === name)!;
    assert.deepEqual(expectFor(n('hard.h1'), n('hard2.h1')), { direct: false, reason: 'both-hard', birthday: false });
    assert.deepEqual(expectFor(n('udpb.h1'), n('pub')), { direct: false, reason: 'udp-blocked', birthday: false });
    assert.deepEqual(expectFor(n('hard.h1'), n('prc.h1')), { direct: true, birthday: true });
    assert.deepEqual(expectFor(n('full.h1'), n('hard.h1')), { direct: true, birthday: false });
    assert.deepEqual(expectFor(n('cgn.h1'), n('dbl.h1')), { direct: true, birthday: false });
  });

  it('every pair of NAT kinds at once: direct, or relayed with the expected reason, and pings through', { timeout: 240_000 }, async () => {
    requirePeers({ ping: 'iputils-ping', nft: 'nftables', openssl: 'openssl' });
    const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'mesh-matrix-'));
    const report = await runMatrixLab(dir, { budgetMs: 45_000, log: (l) => process.stderr.write(`${l}\n`) });
    writeFileSync(join(dir, 'mesh-matrix.json'), JSON.stringify(report, null, 2));
    process.stderr.write(`${formatMatrix(report).join('\n')}\n(report and logs in ${dir})\n`);
    const bad = report.cells.filter((c) => !c.ok && !c.known);
    assert.equal(bad.length, 0, bad.map((c) => `${c.a} x ${c.b}: ${c.problem}`).join('\n'));
    // A hard node runs its easy peers' birthday attempts at once over one shared set of at most 256 extra
    // sockets; each attempt wins with P = 98.3%, so at most one miss is allowed per run.
    const misses = report.cells.filter((c) => !c.ok && c.known);
    assert.ok(misses.length <= 1, `${misses.length} birthday misses: ${misses.map((c) => `${c.a} x ${c.b}`).join(', ')}`);
    const wins = report.cells.filter((c) => c.direct && c.birthday).length;
    // The budget, as each hard node reports it: never more than 256 extra sockets open at once, and the
    // attempts that overlapped shared them (one opening, not one per attempt).
    for (const c of report.cells.filter((x) => x.expected.birthday)) {
      for (const v of [c.aView, c.bView]) {
        const node = v?.birthday?.node;
        if (node) assert.ok(node.peakOpen <= 256, `${c.a} x ${c.b}: ${node.peakOpen} extra sockets open at once`);
        if (v?.birthday?.last) assert.ok(v.birthday.last.sockets <= 256 && v.birthday.last.probes <= 1024, `${c.a} x ${c.b}: ${JSON.stringify(v.birthday.last)}`);
      }
    }
    assert.ok(wins >= report.cells.filter((c) => c.expected.birthday).length - 1, `only ${wins} pairs went direct by a birthday attempt`);
  });
});

describe('mesh NAT matrix with conegate nat on the hard routers', () => {
  it('endpoint-independent mapping on the hard sites: every pair but UDP blocked direct, no birthday attempt', { timeout: 180_000 }, async () => {
    requirePeers({ ping: 'iputils-ping', nft: 'nftables', openssl: 'openssl' });
    const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'mesh-matrix-nat-'));
    const report = await runMatrixLab(dir, { budgetMs: 30_000, routerNat: true, log: (l) => process.stderr.write(`${l}\n`) });
    writeFileSync(join(dir, 'mesh-matrix.json'), JSON.stringify(report, null, 2));
    process.stderr.write(`${formatMatrix(report).join('\n')}\n(report and logs in ${dir})\n`);
    const bad = report.cells.filter((c) => !c.ok);
    assert.equal(bad.length, 0, bad.map((c) => `${c.a} x ${c.b}: ${c.problem}`).join('\n'));
    assert.deepEqual(report.cells.filter((c) => c.birthday).map((c) => `${c.a} x ${c.b}`), [], 'no birthday attempt was needed');
    assert.ok(report.cells.some((c) => c.a === 'hard.h1' && c.b === 'hard2.h1' && c.direct), 'hard x hard direct');
  });
});
