/**
 * Long fuzz runs that do not fit the test suite's time budget (the suite runs a few thousand inputs):
 * 10^6 random and shaped inputs to the WireGuard decoders (a value or a DecodeError, nothing else), and
 * 10^5 random, shaped and mutated datagrams into a live device pair's receiveUdp (no exception inside
 * the device, every input counted, both directions still deliver afterwards).
 *   npm run bench wg-fuzz      (--quick: a tenth of that)
 */
import fc from 'fast-check';
import { DecodeError } from '../agent/src/errors.ts';
import { decodeMessage, isWireGuardPacket } from '../agent/src/wg/messages.ts';
import { ipv4Packet, makeTestbed } from '../agent/src/wg/testbed.ts';

function decoderRun(numRuns: number): { inputs: number; decoded: number; refused: number; seconds: number } {
  let decoded = 0;
  let refused = 0;
  const shaped = fc
    .tuple(fc.integer({ min: 0, max: 5 }), fc.constantFrom(0, 3, 4, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500))
    .chain(([t, n]) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => (n > 0 && (b[0] = t), n > 3 && b.fill(0, 1, 4), b)));
  const t0 = performance.now();
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), shaped), (b) => {
      try {
        decodeMessage(b);
        if (!isWireGuardPacket(b)) throw new Error('decoded a datagram the classifier refuses');
        decoded++;
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        refused++;
      }
    }),
    { numRuns, seed: 1 },
  );
  return { inputs: numRuns, decoded, refused, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) };
}

async function deviceRun(numRuns: number): Promise<Record<string, unknown>> {
  // B's jitter differs from A's, so their first initiations, sent at the same instant, stop crossing on retry.
  const tb = makeTestbed({ seed: 'bench-fuzz', jitterB: 150 });
  const captured: Uint8Array[] = [];
  tb.net.tap = (p) => (captured.push(Uint8Array.from(p)), 'pass');
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 50));
  tb.b.tun.inject(ipv4Packet(tb.b.tunAddress, tb.a.tunAddress, 50));
  await tb.net.idle();
  await tb.advance(6_000);
  tb.a.dev.initiateHandshake(tb.b.publicKey);
  await tb.net.idle();
  tb.net.tap = undefined;
  const mutated = fc
    .tuple(fc.constantFrom(...captured), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([p, flips]) => {
      const out = Uint8Array.from(p);
      for (const [i, v] of flips) out[i % out.length] = v;
      return out;
    });
  const shaped = fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(32, 64, 92, 148, 1452))
    .chain(([t, n]) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => (b.set([t, 0, 0, 0]), b)));
  const from = fc.constantFrom(tb.a.at, tb.b.at, { address: '198.51.100.9', port: 9 }, { address: '2001:db8::9', port: 99 });
  const t0 = performance.now();
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), shaped, mutated), from, fc.boolean(), (d, src, toA) => {
      (toA ? tb.a : tb.b).dev.receiveUdp(d, src);
    }),
    { numRuns, seed: 2 },
  );
  const seconds = Number(((performance.now() - t0) / 1000).toFixed(1));
  await tb.net.idle();
  const before = [tb.a.tun.written.length, tb.b.tun.written.length];
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 33));
  tb.b.tun.inject(ipv4Packet(tb.b.tunAddress, tb.a.tunAddress, 44));
  await tb.advance(20_000);
  const stillWorks = tb.a.tun.written.length > before[0]! && tb.b.tun.written.length > before[1]!;
  const sa = tb.a.dev.stats();
  const sb = tb.b.dev.stats();
  tb.stop();
  if (sa.internalErrors || sb.internalErrors) throw new Error(`internal errors: ${sa.internalErrors + sb.internalErrors}`);
  if (!stillWorks) throw new Error('the devices stopped delivering after the fuzz');
  const drops: Record<string, number> = {};
  for (const s of [sa, sb]) for (const [k, v] of Object.entries(s.drops)) if (v) drops[k] = (drops[k] ?? 0) + v;
  return { inputs: numRuns, seconds, internalErrors: 0, stillWorks, drops };
}

export async function run(args: string[] = []): Promise<unknown> {
  const quick = args.includes('--quick');
  return {
    decoders: decoderRun(quick ? 100_000 : 1_000_000),
    device: await deviceRun(quick ? 10_000 : 100_000),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(process.argv.slice(2)), null, 2));
}
