import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSecFromStat, cpuSecPerGbit, dropUdpText, median, parseIperf, ratio, rssMbFromStatus } from './mesh-figures.ts';

describe('mesh bench figures', () => {
  it('reads utime + stime after the last parenthesis of /proc/<pid>/stat (a command name may hold ") ")', () => {
    // Fields 3.. after "(name)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const stat = '4242 (node) (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 11 0 1 2 3\n';
    assert.equal(cpuSecFromStat(stat), 4);
    assert.throws(() => cpuSecFromStat('garbage'), /stat/);
  });

  it('reads VmRSS in MiB from /proc/<pid>/status', () => {
    assert.equal(rssMbFromStatus('Name:\tnode\nVmRSS:\t  102400 kB\nThreads:\t11\n'), 100);
    assert.throws(() => rssMbFromStatus('Name:\tnode\n'), /VmRSS/);
  });

  it('takes received bytes and rate from an iperf3 -J report, and its error text when it failed', () => {
    const ok = JSON.stringify({ end: { sum_sent: { retransmits: 7 }, sum_received: { bytes: 125_000_000, bits_per_second: 987_654_321 } } });
    assert.deepEqual(parseIperf(ok), { mbps: 987.7, bytes: 125_000_000, retransmits: 7 });
    assert.throws(() => parseIperf(JSON.stringify({ error: 'unable to connect to server' })), /unable to connect/);
    assert.throws(() => parseIperf('iperf3: error - nothing'), /no JSON/);
    assert.throws(() => parseIperf('{}'), /sum_received/);
  });

  it('CPU seconds per Gbit carried; medians; ratios without a baseline are null', () => {
    assert.equal(cpuSecPerGbit(3, 250_000_000), 1.5); // 2 Gbit
    assert.equal(cpuSecPerGbit(3, 0), null);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 3);
    assert.ok(Number.isNaN(median([])));
    assert.equal(ratio(1, 3), 0.333);
    assert.equal(ratio(1, 0), null);
  });

  it('drops UDP to and from one peer only, in a table of its own', () => {
    const t = dropUdpText('203.0.113.100');
    assert.match(t, /table inet cgbench/);
    assert.match(t, /hook output .*\n\s+ip daddr 203\.0\.113\.100 meta l4proto udp drop/);
    assert.match(t, /hook input .*\n\s+ip saddr 203\.0\.113\.100 meta l4proto udp drop/);
    assert.throws(() => dropUdpText('203.0.113.100; flush ruleset'), /IPv4/);
  });
});
