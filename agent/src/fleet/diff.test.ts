import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { unifiedDiff } from './diff.ts';

/** GNU diff -u, the reference (Debian diffutils). */
function gnuDiff(a: string, b: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-fleet-diff-'));
  try {
    writeFileSync(join(dir, 'a'), a);
    writeFileSync(join(dir, 'b'), b);
    const r = spawnSync('diff', ['-u', '--label', 'old', '--label', 'new', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' });
    if (r.error) throw new Error('diff not found: install the Debian package diffutils');
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Applies a unified diff to old text; the check that a diff is correct whatever hunks it chose. */
function applyPatch(old: string, patch: string): string {
  if (patch === '') return old;
  const a = old === '' ? [] : old.split(/(?<=\n)/);
  const lines = patch.split('\n').slice(2, -1);
  const out: string[] = [];
  let at = 0;
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k]!;
    const h = /^@@ -(\d+)(?:,(\d+))? /.exec(l);
    if (h) {
      const first = h[2] === '0' ? Number(h[1]) : Number(h[1]) - 1;
      while (at < first) out.push(a[at++]!);
      continue;
    }
    const noEol = lines[k + 1] === '\\ No newline at end of file';
    const text = l.slice(1) + (noEol ? '' : '\n');
    if (l[0] === ' ' || l[0] === '-') at++;
    if (l[0] === ' ' || l[0] === '+') out.push(text);
    if (noEol) k++;
  }
  while (at < a.length) out.push(a[at++]!);
  return out.join('');
}

const CASES: [string, string][] = [
  ['{\n  "a": 1,\n  "b": 2\n}\n', '{\n  "a": 1,\n  "b": 3\n}\n'],
  ['1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n', '1\n2\nX\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n'],
  ['', 'new\nfile\n'],
  ['gone\n', ''],
  ['a\nb', 'a\nb\n'],
  ['a\nb\n', 'a\nc'],
  ['same\n', 'same\n'],
];

test('byte-identical to GNU diff -u on config-like changes', () => {
  for (const [a, b] of CASES) assert.equal(unifiedDiff(a, b, 'old', 'new'), gnuDiff(a, b), JSON.stringify([a, b]));
});

test('property: the diff applied to the old text gives the new text', () => {
  const text = fc.array(fc.constantFrom('a', 'b', 'c', '', '  "k": 1,'), { maxLength: 30 }).chain((ls) =>
    fc.boolean().map((eol) => (ls.length ? ls.join('\n') + (eol ? '\n' : '') : '')),
  );
  fc.assert(fc.property(text, text, (a, b) => assert.equal(applyPatch(a, unifiedDiff(a, b, 'old', 'new')), b)), { numRuns: 500 });
});
