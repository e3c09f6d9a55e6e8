/**
 * Benchmark dispatcher (`npm run bench [NAME...]`): runs every bench/*.ts that exports `run()` (or only
 * the ones named), writes each result to bench/results/<name>.json and prints it. A benchmark that
 * throws is reported and makes the exit status 1; the others still run.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = new URL('.', import.meta.url).pathname;

export interface BenchModule {
  run(args: string[]): Promise<unknown>;
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();
for (const w of wanted) if (!names.includes(w)) console.error(`bench: no benchmark named ${w}`);

let failed = wanted.some((w) => !names.includes(w));
mkdirSync(join(DIR, 'results'), { recursive: true });
for (const name of names) {
  const mod = (await import(join(DIR, `${name}.ts`))) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') continue;
  console.error(`bench: ${name} ...`);
  try {
    const result = await mod.run(extra);
    const text = JSON.stringify({ name, at: new Date().toISOString(), result }, null, 2);
    writeFileSync(join(DIR, 'results', `${name}.json`), text + '\n');
    console.log(text);
  } catch (err) {
    failed = true;
    console.error(`bench: ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
process.exit(failed ? 1 : 0);
