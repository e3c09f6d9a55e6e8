// IPS area benchmarks (`npm run bench ips [--fuzz-runs N]`): judging a ruleset the size of ET Open
// against our traffic, and fuzzing the rule parser, the XML reader and the probe wire format at 10^6
// inputs (the unit tests run a few thousand).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseRuleFile } from '../agent/src/ips/rules/parse.ts';
import { judgeRules } from '../agent/src/ips/findings.ts';
import { ourTraffic } from '../agent/src/ips/traffic.ts';
import { parseXml } from '../agent/src/xml/xml.ts';
import { classifyArrival, classifyReply, decodeNeutral } from '../agent/src/ips/probe/wire.ts';
import { DecodeError } from '../agent/src/errors.ts';

const FIX = new URL('../test/fixtures/ips/opnsense-inline/usr/local/etc/suricata/rules/', import.meta.url);

function ruleset(n: number): string {
  const base = ['emerging-info.rules', 'emerging-p2p.rules']
    .flatMap((f) => readFileSync(new URL(f, FIX), 'utf8').split('\n'))
    .filter((l) => /^(alert|drop) /.test(l));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(base[i % base.length]!.replace(/sid:\d+/, `sid:${3_000_000 + i}`));
  return out.join('\n');
}

function onlyDecodeErrors(fn: (x: never) => unknown, arb: fc.Arbitrary<unknown>, runs: number): { runs: number; ms: number } {
  const t = performance.now();
  fc.assert(fc.property(arb, (x) => {
    try {
      fn(x as never);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }), { numRuns: runs });
  return { runs, ms: Math.round(performance.now() - t) };
}

export async function run(args: string[]): Promise<object> {
  const i = args.indexOf('--fuzz-runs');
  const runs = i >= 0 ? Number(args[i + 1]) : 1_000_000;

  const text = ruleset(40_000);
  let t = performance.now();
  const { rules } = parseRuleFile(text);
  const parseMs = performance.now() - t;
  t = performance.now();
  const samples = ourTraffic({ meshPorts: [41641], relayPorts: [443] });
  const hits = judgeRules(rules, samples);
  const judgeMs = performance.now() - t;

  const xmlPieces = fc.constantFrom('<a>', '</a>', '<b x="1">', '</b>', '<c/>', '&amp;', '&', '<!--', '-->', '<![CDATA[', ']]>', 't', '"', '<?', '?>', '\n', '<', '>');
  const result = {
    ruleset: { rules: rules.length, samples: samples.length, parseMs: Math.round(parseMs), judgeMs: Math.round(judgeMs), rulesPerSec: Math.round(rules.length / ((parseMs + judgeMs) / 1000)), hits: hits.length },
    fuzz: {
      parseXml: onlyDecodeErrors(parseXml, fc.oneof(fc.string(), fc.array(xmlPieces, { maxLength: 30 }).map((a) => a.join(''))), runs),
      parseRuleFile: onlyDecodeErrors(parseRuleFile, fc.string({ maxLength: 200 }), runs),
      probeWire: onlyDecodeErrors((b: Uint8Array) => {
        classifyArrival(b);
        classifyReply(b);
        decodeNeutral(b);
      }, fc.uint8Array({ maxLength: 64 }), runs),
    },
  };
  return result;
}
