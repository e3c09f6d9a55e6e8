/**
 * The probe tool as plain JavaScript. Tests start dozens of probes; through `node --import tsx` each
 * costs ~0.3 s of CPU to start, plain node ~0.1 s, which matters on a loaded 2-core machine. probe.ts
 * imports only node builtins, so a single-file transpile is enough. The output is cached under the
 * hash of the source in the run directory (CONEGATE_LAB_RUNDIR, else the temp directory), so only the
 * first process of a run pays for the compiler; its existence is checked on every use, since temp
 * directories get cleaned by others.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = new URL('./probe.ts', import.meta.url).pathname;
let compiled: Promise<string> | undefined;

async function compile(): Promise<string> {
  const src = readFileSync(SOURCE, 'utf8');
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = process.env.CONEGATE_LAB_RUNDIR && existsSync(process.env.CONEGATE_LAB_RUNDIR) ? process.env.CONEGATE_LAB_RUNDIR : tmpdir();
  const out = join(dir, `conegate-lab-probe-${hash}.mjs`);
  if (existsSync(out)) return out;
  const ts = (await import('typescript')).default;
  const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }, fileName: 'probe.ts' }).outputText;
  // Write then rename: concurrent test processes never see a half-written file.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, js);
  renameSync(tmp, out);
  return out;
}

/** argv prefix that runs the probe tool with plain node: `[node, /tmp/conegate-lab-probe-<hash>.mjs]`. */
export async function probeArgv(): Promise<string[]> {
  compiled ??= compile();
  let path = await compiled;
  if (!existsSync(path)) {
    compiled = compile();
    path = await compiled;
  }
  return [process.execPath, path];
}
