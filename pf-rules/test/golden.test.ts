/**
 * Golden tests: each fixture + policy must produce exactly the anchor text in test/golden/<case>.conf
 * (the comments in that text say why each rule is there), plus the warnings in <case>.warnings.
 * Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { GOLDEN_CASES } from './cases.ts';
import { readConfigXml, readPfConf } from '../src/readers/index.ts';
import { generateAnchor } from '../src/generate.ts';
import { eimCapability } from '../src/capability.ts';
import { checkAnchorText } from '../src/grammar.ts';

const FIX = new URL('./fixtures/', import.meta.url);
const GOLD = new URL('./golden/', import.meta.url);
const update = process.env.UPDATE_GOLDEN === '1';

for (const c of GOLDEN_CASES) {
  test(`golden ${c.name}`, () => {
    const text = readFileSync(new URL(c.input, FIX), 'utf8');
    const model = c.kind === 'config-xml' ? readConfigXml(text, c.platform) : readPfConf(text);
    const cap = eimCapability({ platform: c.platform, version: c.version, parseAccepted: undefined });
    const out = generateAnchor(model, c.policy, cap);
    const warnings = out.warnings.map((w) => `- ${w}`).join('\n') + '\n';
    const goldConf = new URL(`${c.name}.conf`, GOLD);
    const goldWarn = new URL(`${c.name}.warnings`, GOLD);
    if (update || !existsSync(goldConf)) {
      writeFileSync(goldConf, out.text);
      writeFileSync(goldWarn, warnings);
    }
    assert.equal(out.text, readFileSync(goldConf, 'utf8'));
    assert.equal(warnings, readFileSync(goldWarn, 'utf8'));
    // Every rule line passes the pf.conf(5) grammar check, and every rule has a "why" comment above it.
    const lines = out.text.split('\n');
    const { rules } = checkAnchorText(out.text);
    assert.equal(rules.length, out.rules.length);
    lines.forEach((l, i) => {
      if (/^(no )?nat /.test(l)) assert.match(lines[i - 1] ?? '', /^# /, `rule without a why comment: ${l}`);
    });
  });
}
