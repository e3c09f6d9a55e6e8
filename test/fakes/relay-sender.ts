/**
 * A relay client in its own process for the relay bench: logs in, says "ready", and on "go" (stdin)
 * sends COUNT packets of SIZE bytes to DST as fast as its socket takes them (honouring back-pressure),
 * then says "done". Separate from the receiver so the two ends do not share one event loop.
 *   node --import tsx test/fakes/relay-sender.ts URL FINGERPRINT SECRET_HEX DST_HEX COUNT SIZE
 */
import { randomBytes } from 'node:crypto';
import { encodeSend } from '../../agent/src/relay/frames.ts';
import { dialRelay } from '../../agent/src/relay/mesh/dial.ts';

const [url, fingerprint, secretHex, dstHex, count, size] = process.argv.slice(2) as [string, string, string, string, string, string];
const link = await dialRelay({ url, trust: { fingerprint }, secret: Uint8Array.from(Buffer.from(secretHex, 'hex')) });
const frame = encodeSend(Uint8Array.from(Buffer.from(dstHex, 'hex')), randomBytes(Number(size)));
process.stdout.write('ready\n');
process.stdin.once('data', async () => {
  for (let i = 0; i < Number(count); i++) {
    if (!link.write(frame)) await new Promise((r) => link.socket.once('drain', r));
  }
  process.stdout.write('done\n');
  process.stdin.once('data', () => {
    link.close();
    process.exit(0);
  });
});
