/**
 * A paced TCP stream for lab tests that must see one connection survive path changes (failover tests):
 *   node --import tsx test/lab/tcp-stream.ts serve ADDR PORT
 *     accepts one connection; prints `listening`, then `recv BYTES WALL_MS` every 100 ms, `end BYTES` on a clean
 *     close, `error CODE` on a reset or other socket error; exits after that connection.
 *   node --import tsx test/lab/tcp-stream.ts send ADDR PORT KBIT_PER_SEC MAX_SEC
 *     connects and writes at the given pace (8 KiB writes); on SIGTERM, or after MAX_SEC (a bound on
 *     the sending loop), ends the connection cleanly and prints `sent BYTES`; `error CODE` and exit 1 on
 *     a socket error.
 * Plain node builtins only; the byte counts let the test check that nothing was lost or reset.
 */
import { createConnection, createServer, type Socket } from 'node:net';

const CHUNK = Buffer.alloc(8192, 0x5a);
const [mode, addr, portArg, rateArg, maxArg] = process.argv.slice(2);
const port = Number(portArg);

function serve(): void {
  let total = 0;
  const server = createServer((sock: Socket) => {
    server.close();
    const timer = setInterval(() => process.stdout.write(`recv ${total} ${Date.now()}\n`), 100);
    sock.on('data', (b: Buffer) => (total += b.length));
    sock.on('end', () => {
      clearInterval(timer);
      process.stdout.write(`end ${total}\n`);
      sock.end();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearInterval(timer);
      process.stdout.write(`error ${err.code ?? err.message}\n`);
      process.exitCode = 1;
    });
  });
  server.listen(port, addr, () => process.stdout.write('listening\n'));
}

function send(): void {
  const perTick = Math.max(1, Math.round((Number(rateArg) * 1000) / 8 / CHUNK.length / 20));
  const maxMs = Number(maxArg) * 1000;
  let sent = 0;
  let stopping = false;
  const sock = createConnection({ host: addr!, port });
  sock.setNoDelay(true);
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    clearTimeout(bound);
    sock.end(() => process.stdout.write(`sent ${sent}\n`));
  };
  // 20 ticks a second; a tick is skipped while the socket's buffer is full (TCP back-pressure during a
  // path change), so the pace is an upper bound and memory stays bounded.
  const timer = setInterval(() => {
    if (sock.writableLength > 64 * CHUNK.length) return;
    for (let i = 0; i < perTick; i++) {
      sock.write(CHUNK);
      sent += CHUNK.length;
    }
  }, 50);
  const bound = setTimeout(stop, maxMs);
  sock.on('connect', () => process.stdout.write('connected\n'));
  sock.on('error', (err: NodeJS.ErrnoException) => {
    clearInterval(timer);
    clearTimeout(bound);
    process.stdout.write(`error ${err.code ?? err.message}\n`);
    process.exit(1);
  });
  process.on('SIGTERM', stop);
}

if (mode === 'serve') serve();
else if (mode === 'send') send();
else {
  process.stderr.write('usage: tcp-stream.ts serve ADDR PORT | send ADDR PORT KBIT_PER_SEC MAX_SEC\n');
  process.exit(2);
}
