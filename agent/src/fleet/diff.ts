/**
 * Unified diff of two texts, line by line, for `--diff` (the format of `diff -u`: `---`/`+++` labels,
 * `@@ -a,b +c,d @@` hunks with 3 lines of context; an empty range is written `-a,0` with a = the line
 * before it). Longest-common-subsequence by dynamic programming: configs are small; past MAX_CELLS the
 * diff degrades to "all old lines removed, all new added", still correct, never slow.
 */
const CONTEXT = 3;
const MAX_CELLS = 4_000_000;

type Op = { kind: ' ' | '-' | '+'; line: string };

/** A last line without a newline differs from the same text with one: it carries this mark while compared. */
const NO_EOL = '\u0000no-eol';

function splitLines(text: string): string[] {
  if (text === '') return [];
  const noEol = !text.endsWith('\n');
  const lines = (noEol ? text : text.slice(0, -1)).split('\n');
  if (noEol) lines[lines.length - 1] += NO_EOL;
  return lines;
}

function editScript(a: string[], b: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const mid: Op[] = [];
  if ((am.length + 1) * (bm.length + 1) > MAX_CELLS) {
    for (const l of am) mid.push({ kind: '-', line: l });
    for (const l of bm) mid.push({ kind: '+', line: l });
  } else {
    const w = bm.length + 1;
    const dp = new Uint32Array((am.length + 1) * w);
    for (let i = am.length - 1; i >= 0; i--) {
      for (let j = bm.length - 1; j >= 0; j--) {
        dp[i * w + j] = am[i] === bm[j] ? dp[(i + 1) * w + j + 1]! + 1 : Math.max(dp[(i + 1) * w + j]!, dp[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    // Deletions before additions at a tie, as diff -u prints them.
    while (i < am.length || j < bm.length) {
      if (i < am.length && j < bm.length && am[i] === bm[j]) {
        mid.push({ kind: ' ', line: am[i++]! });
        j++;
      } else if (i < am.length && (j === bm.length || dp[(i + 1) * w + j]! >= dp[i * w + j + 1]!)) {
        mid.push({ kind: '-', line: am[i++]! });
      } else mid.push({ kind: '+', line: bm[j++]! });
    }
  }
  return [...a.slice(0, pre).map((line): Op => ({ kind: ' ', line })), ...mid, ...a.slice(a.length - suf).map((line): Op => ({ kind: ' ', line }))];
}

export function unifiedDiff(oldText: string, newText: string, oldLabel: string, newLabel: string): string {
  if (oldText === newText) return '';
  const ops = editScript(splitLines(oldText), splitLines(newText));
  const out: string[] = [`--- ${oldLabel}`, `+++ ${newLabel}`];
  const changed = ops.map((o, k) => (o.kind !== ' ' ? k : -1)).filter((k) => k >= 0);
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - CONTEXT);
    let end = changed[k]! + CONTEXT;
    while (k + 1 < changed.length && changed[k + 1]! - CONTEXT <= end + 1) end = changed[++k]! + CONTEXT;
    k++;
    end = Math.min(end, ops.length - 1);
    let aLine = 0;
    let bLine = 0;
    for (let x = 0; x < start; x++) {
      if (ops[x]!.kind !== '+') aLine++;
      if (ops[x]!.kind !== '-') bLine++;
    }
    const hunk = ops.slice(start, end + 1);
    const aCount = hunk.filter((o) => o.kind !== '+').length;
    const bCount = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${range(aLine, aCount)} +${range(bLine, bCount)} @@`);
    for (const o of hunk) {
      if (!o.line.endsWith(NO_EOL)) out.push(o.kind + o.line);
      else out.push(o.kind + o.line.slice(0, -NO_EOL.length), '\\ No newline at end of file');
    }
  }
  return out.join('\n') + '\n';
}

function range(before: number, count: number): string {
  if (count === 0) return `${before},0`;
  return count === 1 ? `${before + 1}` : `${before + 1},${count}`;
}
