#!/usr/bin/env node
// Builds the bundle (tests that spawn `conegate` run it, as shipped: test/conegate.ts), runs every
// *.test.ts with node's test runner (through tsx), then checks that the run left no lab namespace or
// process behind, and ends with one plain "N passed, N failed" line covering both.
//   node scripts/run-tests.mjs            all tests
//   node scripts/run-tests.mjs --unit     only tests that need no root and no network namespaces
//   node scripts/run-tests.mjs pmpd stun  only files whose path contains one of the words
//   --no-build                            use dist/ as it is (scripts/test.sh, after its own build)
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';

const ROOT = new URL('..', import.meta.url).pathname;
const SEARCH = ['agent', 'pf-rules', 'test', 'bench'];
// Folders whose tests build network namespaces or start real peers: they need root.
const LAB_DIRS = ['test/lab/', 'test/interop/'];

function findTests(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) findTests(full, out);
    else if (entry.name.endsWith('.test.ts')) out.push(relative(ROOT, full));
  }
  return out;
}

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const build = !args.includes('--no-build');
const words = args.filter((a) => !a.startsWith('--'));
let files = SEARCH.filter((d) => existsSync(join(ROOT, d))).flatMap((d) => findTests(join(ROOT, d))).sort();
if (unitOnly) files = files.filter((f) => !LAB_DIRS.some((d) => f.startsWith(d)));
if (words.length) files = files.filter((f) => words.some((w) => f.includes(w)));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

if (build) execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });

// One prefix and run directory for every lab built during this run, so leftovers can be found afterwards.
const runId = `cg${(Date.now() % 46656).toString(36).padStart(3, '0')}`;
const runDir = mkdtempSync(join(tmpdir(), `conegate-test-${runId}-`));
const tapFile = join(runDir, 'results.tap');
const env = { ...process.env, CONEGATE_LAB_PREFIX: runId, CONEGATE_LAB_RUNDIR: runDir };
// What ships is what is tested: a conegate started by a test runs the bundle, never the sources.
delete env.CONEGATE_DEV;

const child = spawn(
  process.execPath,
  [
    '--import', 'tsx',
    '--test',
    '--test-concurrency=2',
    // A hung test fails after 10 minutes instead of holding the run. (--test-force-exit would also end
    // a file that leaves a handle open, but it exits before the TAP file below is written.)
    '--test-timeout=600000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] },
);
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));

const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
const count = (key) => Number((tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
let passed = count('pass');
let failed = count('fail') + count('cancelled');

// Leftovers: namespaces with this run's prefix, and processes the labs recorded as started.
const leftovers = [];
try {
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  for (const n of names) if (n.startsWith(runId)) leftovers.push(`network namespace ${n}`);
} catch {
  // No iproute2 means no lab ran; nothing to check.
}
const pidFile = join(runDir, 'pids');
if (existsSync(pidFile)) {
  for (const line of readFileSync(pidFile, 'utf8').split('\n').filter(Boolean)) {
    const [pid, ...what] = line.split(' ');
    // A zombie (state Z) has exited and only waits to be reaped by PID 1: it is not left running.
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] ?? '';
    } catch {
      // gone, as it should be
    }
    if (state && state !== 'Z' && state !== 'X') leftovers.push(`process ${pid} (${what.join(' ')})`);
  }
}
console.log(`\nleftover check: ${leftovers.length === 0 ? 'no namespace or process left behind' : 'FAILED'}`);
for (const l of leftovers) console.log(`  left behind: ${l}`);
if (leftovers.length === 0) passed += 1;
else failed += 1;
rmSync(runDir, { recursive: true, force: true });

console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(code !== 0 || failed > 0 ? 1 : 0);
