/**
 * Interop with the reference userspace implementation: `conegate wg up` in one lab namespace, Debian's
 * `wireguard-go -f` (configured with `wg` and `ip`) in another, on the lab's internet segment.
 *
 * Pair 1 (100.64.1.0/24): only conegate knows the other's endpoint, so conegate must initiate.
 * Pair 2 (100.64.2.0/24): only wireguard-go knows the other's endpoint, so wireguard-go must initiate.
 * Pair 3 (100.64.3.0/24): outer endpoints over IPv6.
 * The rekeys restart wireguard-go (same keys) instead of waiting REKEY_AFTER_TIME (120 s): in pair 2 its
 * next packet is a fresh initiation that replaces our live session; in pair 1 only we can act, and our
 * timers start a new handshake once data goes unanswered for 15 s.
 * Roaming moves wireguard-go to another listen port; our side must follow the authenticated source.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from '../../lab/lab.ts';
import type { LabProcess } from '../../lab/proc.ts';
import { keyPair, requirePeers, Scratch, startConegate, startWireguardGo, waitFor, type KeyPair, type WgNodeSpec } from './peers.ts';

let lab: Lab;
let scratch: Scratch;
const keys: Record<string, KeyPair> = {};
const specs: Record<string, WgNodeSpec> = {};
const procs: Record<string, LabProcess> = {};

interface DumpPeer {
  publicKey: string;
  endpoint: string;
  allowedIps: string;
  latestHandshakeSec: number;
  rxBytes: number;
  txBytes: number;
  keepalive: string;
}

/** `wg show IF dump`, run in the node, parsed (peer lines only, plus the interface's listen port). */
async function dump(node: string, ifname: string): Promise<{ listenPort: number; peers: DumpPeer[] }> {
  const r = await lab.exec(node, ['wg', 'show', ifname, 'dump'], { check: true });
  const [head, ...rest] = r.stdout.trim().split('\n');
  const peers = rest.map((l) => {
    const f = l.split('\t');
    return { publicKey: f[0]!, endpoint: f[2]!, allowedIps: f[3]!, latestHandshakeSec: Number(f[4]), rxBytes: Number(f[5]), txBytes: Number(f[6]), keepalive: f[7]! };
  });
  return { listenPort: Number(head?.split('\t')[2]), peers };
}

async function ping(node: string, addr: string, count = 3): Promise<void> {
  const r = await lab.exec(node, ['ping', '-c', String(count), '-i', '0.2', '-W', '3', addr], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, `ping ${addr} from ${node} failed:\n${r.stdout}${r.stderr}`);
}

/** Asks conegate for its counters (SIGUSR2 prints one JSON line) and returns them. */
async function conegateStats(p: LabProcess): Promise<{ device: { drops: Record<string, number>; initiationsSent: number; initiationsReceived: number } }> {
  const before = p.stdout.split('\n').filter((l) => l.startsWith('{"stats"')).length;
  process.kill(p.pid, 'SIGUSR2');
  await waitFor(() => p.stdout.split('\n').filter((l) => l.startsWith('{"stats"')).length > before, 5000, 'stats line');
  const lines = p.stdout.split('\n').filter((l) => l.startsWith('{"stats"'));
  return (JSON.parse(lines[lines.length - 1]!) as { stats: never }).stats;
}

async function iperf(serverAddr: string, reverse: boolean): Promise<number> {
  const srv = lab.spawn('s2', ['iperf3', '-s', '-1', '-B', serverAddr, '--forceflush'], { description: 'iperf3 server' });
  try {
    await srv.waitForOutput(/listening/, 5000);
    const r = await lab.exec('s1', ['iperf3', '-c', serverAddr, '-t', '2', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout.slice(0, 2000) + r.stderr);
    return (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
  } finally {
    await srv.stop();
  }
}

before(async () => {
  requirePeers();
  lab = await createLab({ servers: ['s1', 's2'], ipv6: true });
  scratch = new Scratch();
  for (const k of ['cg1', 'go1', 'cg2', 'go2', 'cg3', 'go3']) keys[k] = keyPair();
  const s1 = lab.addr('s1');
  const s2 = lab.addr('s2');
  specs.cg1 = { node: 's1', ifname: lab.uniqueIfname('cg'), keys: keys.cg1!, listenPort: 51820, address: ['100.64.1.1/24', '2001:db8:64::1/64'], peers: [{ pub: keys.go1!.pub, allowedIps: ['100.64.1.2/32', '2001:db8:64::2/128'], endpoint: `${s2}:51821` }] };
  specs.go1 = { node: 's2', ifname: lab.uniqueIfname('go'), keys: keys.go1!, listenPort: 51821, address: ['100.64.1.2/24', '2001:db8:64::2/64'], peers: [{ pub: keys.cg1!.pub, allowedIps: ['100.64.1.1/32', '2001:db8:64::1/128'] }] };
  specs.cg2 = { node: 's1', ifname: lab.uniqueIfname('cg'), keys: keys.cg2!, listenPort: 51830, address: '100.64.2.1/24', peers: [{ pub: keys.go2!.pub, allowedIps: ['100.64.2.2/32'] }] };
  specs.go2 = { node: 's2', ifname: lab.uniqueIfname('go'), keys: keys.go2!, listenPort: 51831, address: '100.64.2.2/24', peers: [{ pub: keys.cg2!.pub, allowedIps: ['100.64.2.1/32'], endpoint: `${s1}:51830` }] };
  // Pair 3 (100.64.3.0/24): the outer endpoints are IPv6 (our udp6 socket).
  specs.cg3 = { node: 's1', ifname: lab.uniqueIfname('cg'), keys: keys.cg3!, listenPort: 51850, address: '100.64.3.1/24', peers: [{ pub: keys.go3!.pub, allowedIps: ['100.64.3.2/32'], endpoint: `[${lab.addr6('s2')}]:51851` }] };
  specs.go3 = { node: 's2', ifname: lab.uniqueIfname('go'), keys: keys.go3!, listenPort: 51851, address: '100.64.3.2/24', peers: [{ pub: keys.cg3!.pub, allowedIps: ['100.64.3.1/32'], endpoint: `[${lab.addr6('s1')}]:51850` }] };
  procs.go1 = await startWireguardGo(lab, specs.go1, scratch);
  procs.go3 = await startWireguardGo(lab, specs.go3, scratch);
  procs.go2 = await startWireguardGo(lab, specs.go2, scratch);
  procs.cg1 = await startConegate(lab, specs.cg1, scratch);
  procs.cg2 = await startConegate(lab, specs.cg2, scratch);
  procs.cg3 = await startConegate(lab, specs.cg3, scratch);
});

after(async () => {
  await lab?.destroy();
  scratch?.cleanup();
});

describe('conegate <-> wireguard-go', () => {
  it('our public key matches wireguard-tools for the same private key', async () => {
    const r = await lab.exec('s1', ['wg', 'pubkey'], { input: keys.cg1!.priv + '\n', check: true });
    assert.equal(r.stdout.trim(), keys.cg1!.pub);
  });

  it('conegate initiates: handshake, then ping both ways', async () => {
    await ping('s1', '100.64.1.2');
    await ping('s2', '100.64.1.1');
    const st = await conegateStats(procs.cg1!);
    assert.ok(st.device.initiationsSent >= 1, 'conegate sent no initiation');
  });

  it('carries IPv6 inside the tunnel both ways', async () => {
    await ping('s1', '2001:db8:64::2');
    await ping('s2', '2001:db8:64::1');
  });

  it('works over IPv6 endpoints (our IPv6 socket), both ways', async () => {
    await ping('s1', '100.64.3.2');
    await ping('s2', '100.64.3.1');
    const d = await dump('s1', specs.cg3!.ifname);
    assert.equal(d.peers[0]?.endpoint, `[${lab.addr6('s2')}]:51851`);
    assert.ok((d.peers[0]?.rxBytes ?? 0) > 0);
  });

  it('wireguard-go initiates: handshake, then ping both ways; we learn its endpoint', async () => {
    await ping('s2', '100.64.2.1');
    await ping('s1', '100.64.2.2');
    const st = await conegateStats(procs.cg2!);
    assert.ok(st.device.initiationsReceived >= 1, 'conegate received no initiation');
    const d = await dump('s1', specs.cg2!.ifname);
    assert.equal(d.peers[0]?.endpoint, `${lab.addr('s2')}:51831`);
  });

  it('carries an iperf3 TCP stream both ways', async () => {
    const up = await iperf('100.64.1.2', false);
    const down = await iperf('100.64.1.2', true);
    assert.ok(up > 1_000_000, `only ${up} bytes s1->s2`);
    assert.ok(down > 1_000_000, `only ${down} bytes s2->s1`);
  });

  it('wg show against our UAPI socket lists the peer with handshake time and bytes', async () => {
    await ping('s1', '100.64.1.2', 1);
    const d = await dump('s1', specs.cg1!.ifname);
    assert.equal(d.listenPort, 51820);
    assert.equal(d.peers.length, 1);
    const p = d.peers[0]!;
    assert.equal(p.publicKey, keys.go1!.pub);
    assert.equal(p.endpoint, `${lab.addr('s2')}:51821`);
    assert.deepEqual(p.allowedIps.split(',').sort(), ['100.64.1.2/32', '2001:db8:64::2/128']);
    assert.ok(Math.abs(p.latestHandshakeSec - Date.now() / 1000) < 300, `handshake time ${p.latestHandshakeSec}`);
    assert.ok(p.rxBytes > 1_000_000 && p.txBytes > 1_000_000, `rx ${p.rxBytes} tx ${p.txBytes}`);
    const text = await lab.exec('s1', ['wg', 'show', specs.cg1!.ifname], { check: true });
    assert.match(text.stdout, /latest handshake: .*ago/);
    assert.match(text.stdout, /transfer: .* received, .* sent/);
  });

  it('wg set changes a peer through our UAPI socket', async () => {
    const ifname = specs.cg1!.ifname;
    await lab.exec('s1', ['wg', 'set', ifname, 'peer', keys.go1!.pub, 'persistent-keepalive', '25', 'allowed-ips', '100.64.1.2/32,2001:db8:64::2/128,100.64.9.0/24'], { check: true });
    const d = await dump('s1', ifname);
    assert.equal(d.peers[0]?.keepalive, '25');
    assert.deepEqual(d.peers[0]?.allowedIps.split(',').sort(), ['100.64.1.2/32', '100.64.9.0/24', '2001:db8:64::2/128']);
    const bad = await lab.exec('s1', ['wg', 'set', ifname, 'listen-port', '51821']);
    // 51821 is free in s1 (wireguard-go uses it in s2), so this must succeed; then move back.
    assert.equal(bad.code, 0, bad.stderr);
    assert.equal((await dump('s1', ifname)).listenPort, 51821);
    await lab.exec('s1', ['wg', 'set', ifname, 'listen-port', '51820'], { check: true });
    await lab.exec('s1', ['wg', 'set', ifname, 'peer', keys.go1!.pub, 'persistent-keepalive', '0', 'allowed-ips', '100.64.1.2/32,2001:db8:64::2/128'], { check: true });
    await ping('s1', '100.64.1.2', 1);
  });

  it('a wg set whose listen-port is busy fails and changes nothing: key, port, peers (all or nothing, as wireguard-go)', async () => {
    const ifname = specs.cg1!.ifname;
    const before = await lab.exec('s1', ['wg', 'show', ifname, 'dump'], { check: true });
    const other = keyPair();
    const keyFile = scratch.file('new-private.key', `${keyPair().priv}\n`);
    // 51830 is cg2's port in s1: busy. The key and the new peer come first on the command line.
    const r = await lab.exec('s1', ['wg', 'set', ifname, 'private-key', keyFile, 'listen-port', '51830', 'peer', other.pub, 'allowed-ips', '100.64.7.7/32']);
    assert.notEqual(r.code, 0, 'wg set must fail');
    assert.match(r.stderr, /Address already in use|errno|Unable/i);
    const after = await lab.exec('s1', ['wg', 'show', ifname, 'dump'], { check: true });
    const stable = (t: string) => t.trim().split('\n').map((l) => l.split('\t').slice(0, 4).join('\t'));
    assert.deepEqual(stable(after.stdout), stable(before.stdout));
    assert.equal((await dump('s1', ifname)).listenPort, 51820);
    await ping('s1', '100.64.1.2', 1);
  });

  it('wg set fwmark is applied (SO_MARK) and shown; off clears it', async () => {
    const ifname = specs.cg1!.ifname;
    await lab.exec('s1', ['wg', 'set', ifname, 'fwmark', '0x1234'], { check: true });
    assert.equal((await lab.exec('s1', ['wg', 'show', ifname, 'fwmark'], { check: true })).stdout.trim(), '0x1234');
    await ping('s1', '100.64.1.2', 1);
    await lab.exec('s1', ['wg', 'set', ifname, 'fwmark', 'off'], { check: true });
    assert.equal((await lab.exec('s1', ['wg', 'show', ifname, 'fwmark'], { check: true })).stdout.trim(), 'off');
  });

  it('rekeys: wireguard-go restarted with the same keys initiates a new session, traffic continues', async () => {
    const before = (await dump('s1', specs.cg2!.ifname)).peers[0]!;
    const statsBefore = await conegateStats(procs.cg2!);
    await procs.go2!.stop();
    // whole seconds: wg reports handshake times in seconds
    await new Promise((r) => setTimeout(r, 1100));
    procs.go2 = await startWireguardGo(lab, specs.go2!, scratch);
    await ping('s2', '100.64.2.1');
    await ping('s1', '100.64.2.2');
    const after = (await dump('s1', specs.cg2!.ifname)).peers[0]!;
    const statsAfter = await conegateStats(procs.cg2!);
    assert.ok(after.latestHandshakeSec > before.latestHandshakeSec, `handshake time did not move: ${before.latestHandshakeSec} -> ${after.latestHandshakeSec}`);
    assert.ok(statsAfter.device.initiationsReceived > statsBefore.device.initiationsReceived);
  });

  it('rekeys as initiator: after wireguard-go loses its session, our timers start a new handshake', async () => {
    // wireguard-go restarted knows no session and (pair 1) not even our endpoint, so only our side can
    // recover: data sent without any reply for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) starts a new
    // handshake (whitepaper 6.4). Bounded: one ping a second for at most 35 s.
    const before = (await dump('s1', specs.cg1!.ifname)).peers[0]!;
    const statsBefore = await conegateStats(procs.cg1!);
    await procs.go1!.stop();
    await new Promise((r) => setTimeout(r, 1100));
    procs.go1 = await startWireguardGo(lab, specs.go1!, scratch);
    const deadline = Date.now() + 35_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = (await lab.exec('s1', ['ping', '-c', '1', '-W', '1', '100.64.1.2'], { timeoutMs: 5000 })).code === 0;
    }
    assert.ok(ok, 'the tunnel did not come back within 35 s');
    const after = (await dump('s1', specs.cg1!.ifname)).peers[0]!;
    const statsAfter = await conegateStats(procs.cg1!);
    assert.ok(statsAfter.device.initiationsSent > statsBefore.device.initiationsSent, 'no new initiation from us');
    assert.ok(after.latestHandshakeSec > before.latestHandshakeSec, 'handshake time did not move');
    await ping('s2', '100.64.1.1');
  });

  it('roaming: wireguard-go moves to another port, we follow it', async () => {
    await lab.exec('s2', ['wg', 'set', specs.go2!.ifname, 'listen-port', '51841'], { check: true });
    await ping('s2', '100.64.2.1');
    await ping('s1', '100.64.2.2');
    const d = await dump('s1', specs.cg2!.ifname);
    assert.equal(d.peers[0]?.endpoint, `${lab.addr('s2')}:51841`);
  });

  it('junk at our port is dropped and counted, and the tunnel keeps working', async () => {
    const before = await conegateStats(procs.cg1!);
    const r = await lab.execNode('s2', 'test/interop/wg/udp-fuzz.ts', [lab.addr('s1'), '51820', '20000', '7'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"sent":20000/);
    await ping('s1', '100.64.1.2');
    await ping('s2', '100.64.1.1');
    const after = await conegateStats(procs.cg1!);
    const grew = (k: string) => (after.device.drops[k] ?? 0) - (before.device.drops[k] ?? 0);
    assert.ok(grew('decode') > 1000, `decode drops +${grew('decode')}`);
    assert.ok(grew('badMac') > 1000, `badMac drops +${grew('badMac')}`);
    assert.ok(grew('unknownReceiver') > 1000, `unknownReceiver drops +${grew('unknownReceiver')}`);
    assert.equal(procs.cg1!.exited, false);
  });

  it('stops cleanly on SIGTERM and removes its UAPI socket', async () => {
    const p = procs.cg2!;
    await p.stop();
    const done = await p.done;
    assert.equal(done.code, 0, p.stderr);
    const sock = await lab.exec('s1', ['test', '-e', `/var/run/wireguard/${specs.cg2!.ifname}.sock`]);
    assert.notEqual(sock.code, 0, 'UAPI socket left behind');
    const link = await lab.exec('s1', ['ip', 'link', 'show', specs.cg2!.ifname]);
    assert.notEqual(link.code, 0, 'TUN interface left behind');
  });
});
