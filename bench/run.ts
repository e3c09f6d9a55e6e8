/**
 * `npm run bench [name ...]`: runs every bench/<name>.ts that exports `run(): Promise<object>` (or only
 * the named ones), writes each result to bench/results/<name>.json and prints it. Benchmarks compare
 * conegate with the reference peer in the same run; they are never part of the test suite.
 */
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const RESULTS = join(DIR, 'results');

interface BenchModule {
  run: (args: string[]) => Promise<unknown>;
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();
if (names.length === 0) {
  console.error(`bench: nothing to run${wanted.length ? ` (no bench named ${wanted.join(', ')})` : ''}`);
  process.exit(2);
}
mkdirSync(RESULTS, { recursive: true });
let failed = 0;
for (const name of names) {
  const mod = (await import(pathToFileURL(join(DIR, `${name}.ts`)).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') continue;
  console.error(`bench: ${name} ...`);
  try {
    const result = { name, date: new Date().toISOString(), result: await mod.run(process.argv.slice(2)) };
    writeFileSync(join(RESULTS, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } catch (err) {
    failed++;
    console.error(`bench: ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
