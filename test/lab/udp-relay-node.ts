// A UDP relay node or client for the lab (test/lab/udp-relay.test.ts, bench/udp-relay.ts), run in a
// namespace with `node --import tsx`. Keys are derived from node names (agent/src/relay/udp/testkit.ts),
// so every process agrees on who is in the mesh without a coordinator.
//   relay  --listen IP:PORT --members relay,a,b [--kernel-forward auto|off]
//          prints {"listening":PORT}, then stats as they change (with the kernel fast path's, when auto)
//   client --me a --peer b --relay IP:PORT --count N [--size BYTES] [--burst N] [--timeout-ms MS]
//          binds through the relay, sends N datagrams to the peer (after one came back from it; `burst`
//          every 5 ms), and
//          prints {"sent":N,"received":M,"vni":V,"ms":T} once M reaches N or the time is up.
//   sender --me a --peer b --relay IP:PORT --direct IP:PORT   (bench/udp-relay.ts) binds, says hello
//          until the peer answers, prints {"ready":true}; then per stdin line "relay S" or "direct S"
//          sends 1,200-byte datagrams for S seconds (through the relay, or straight to --direct) and
//          prints {"sent":N}; "bye" ends it.
import { createSocket } from 'node:dgram';
import { realClock } from '../../agent/src/clock/clock.ts';
import { parseHostPort } from '../../agent/src/net/ip.ts';
import { createUdpRelayClient } from '../../agent/src/relay/udp/client.ts';
import { createUdpRelayServer } from '../../agent/src/relay/udp/server.ts';
import { DEFAULT_LIMITS } from '../../agent/src/relay/udp/server-core.ts';
import { testMap, testNode } from '../../agent/src/relay/udp/testkit.ts';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) {
    console.error(`udp-relay-node: --${name} is required`);
    process.exit(2);
  }
  return v;
}

function hostPort(text: string): { address: string; port: number } {
  const hp = parseHostPort(text);
  if (!hp) {
    console.error(`udp-relay-node: not ip:port: ${text}`);
    process.exit(2);
  }
  return { address: hp.host, port: hp.port };
}

async function relay(): Promise<void> {
  const listen = hostPort(arg('listen'));
  const me = testNode('relay');
  const map = testMap(arg('members').split(',').map(testNode));
  const server = createUdpRelayServer(
    {
      host: listen.address, port: listen.port, limits: { ...DEFAULT_LIMITS, packetsPerSec: 1_000_000, packetsBurst: 100_000 },
      kernelForward: arg('kernel-forward', 'off') === 'auto' ? 'auto' : 'off',
    },
    { clock: realClock, discoPrivate: me.discoPrivate, discoPublic: me.discoPublic, ...map, publicEndpoint: () => listen, log: (m) => console.error(m) },
  );
  await server.start();
  console.log(JSON.stringify({ listening: server.port() }));
  let last = '';
  const timer = setInterval(() => {
    const s = JSON.stringify(server.stats());
    if (s !== last) console.log((last = s));
  }, 200);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    console.log(JSON.stringify(server.stats()));
    void server.stop().then(() => process.exit(0));
  });
}

async function client(): Promise<void> {
  const me = testNode(arg('me'));
  const peer = testNode(arg('peer'));
  const relayNode = testNode('relay');
  const count = Number(arg('count', '1000'));
  const size = Number(arg('size', '1200'));
  const burst = Number(arg('burst', '10'));
  const deadline = performance.now() + Number(arg('timeout-ms', '30000'));
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  socket.on('error', () => undefined);
  const c = createUdpRelayClient({
    discoPrivate: me.discoPrivate, discoPublic: me.discoPublic, nodeKey: me.nodeKey, clock: realClock,
    sockets: { send: (_s, packet, to) => socket.send(packet, to.port, to.address, () => undefined) },
  });
  socket.on('message', (msg, rinfo) => c.receive(msg, rinfo, 0));
  let received = 0;
  let heard = false;
  c.onPacket((_peer, _payload, proto) => {
    heard = true;
    if (proto === 'wireguard') received++;
  });
  c.want(peer.nodeHex, { endpoint: hostPort(arg('relay')), nodeKey: relayNode.nodeHex, discoKey: relayNode.discoHex });
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
  // Hello (discovery protocol) every 200 ms until the peer's first packet shows both sides are bound.
  for (let i = 0; !heard && performance.now() < deadline; i++) {
    const via = c.via(peer.nodeHex);
    if (via && i % 40 === 0) c.send(via, Uint8Array.of(1), 'disco');
    await tick();
  }
  const via = c.via(peer.nodeHex);
  const start = performance.now();
  let sent = 0;
  if (via && heard) {
    const payload = new Uint8Array(size).fill(0x5a);
    while (sent < count && performance.now() < deadline) {
      for (let j = 0; j < burst && sent < count; j++, sent++) c.send(via, payload);
      await tick();
    }
  }
  while (received < count && performance.now() < deadline) await tick();
  console.log(JSON.stringify({ sent, received, vni: via?.vni, ms: Math.round(performance.now() - start), status: c.status() }));
  c.close();
  socket.close();
}

async function sender(): Promise<void> {
  const me = testNode(arg('me'));
  const peer = testNode(arg('peer'));
  const relayNode = testNode('relay');
  const direct = hostPort(arg('direct'));
  const socket = createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.on('error', () => undefined);
  const c = createUdpRelayClient({
    discoPrivate: me.discoPrivate, discoPublic: me.discoPublic, nodeKey: me.nodeKey, clock: realClock,
    sockets: { send: (_s, packet, to) => socket.send(packet, to.port, to.address) },
  });
  socket.on('message', (msg, rinfo) => c.receive(msg, rinfo, 0));
  let heard = false;
  c.onPacket(() => void (heard = true));
  c.want(peer.nodeHex, { endpoint: hostPort(arg('relay')), nodeKey: relayNode.nodeHex, discoKey: relayNode.discoHex });
  const deadline = performance.now() + 30_000;
  for (let i = 0; !heard && performance.now() < deadline; i++) {
    const via = c.via(peer.nodeHex);
    if (via && i % 40 === 0) c.send(via, Uint8Array.of(1), 'disco');
    await new Promise((r) => setTimeout(r, 5));
  }
  const via = c.via(peer.nodeHex);
  if (!via || !heard) {
    console.error('udp-relay-node: the peer never answered through the relay');
    process.exit(1);
  }
  console.log(JSON.stringify({ ready: true }));
  const payload = new Uint8Array(1200).fill(0x5a);
  const { createInterface } = await import('node:readline');
  for await (const line of createInterface({ input: process.stdin })) {
    const [what, secs] = line.trim().split(' ');
    if (what === 'bye') break;
    const end = performance.now() + Number(secs) * 1000;
    let sent = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 32; i++) {
        if (what === 'relay') c.send(via, payload);
        else socket.send(payload, direct.port, direct.address);
      }
      sent += 32;
      await new Promise((r) => setImmediate(r));
    }
    console.log(JSON.stringify({ sent }));
  }
  c.close();
  socket.close();
}

const mode = process.argv[2];
if (mode === 'relay') await relay();
else if (mode === 'client') await client();
else if (mode === 'sender') await sender();
else {
  console.error('usage: udp-relay-node relay|client ...');
  process.exit(2);
}
