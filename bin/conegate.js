#!/usr/bin/env node
// The `conegate` command: runs the esbuild bundle dist/conegate.js (`npm run build`), which is what
// ships; the bundle runs the CLI and sets the exit status when imported.
// CONEGATE_DEV=1 runs the TypeScript sources through tsx instead (tsx is a development dependency).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/conegate.js', import.meta.url);
if (process.env.CONEGATE_DEV === '1') {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('conegate: CONEGATE_DEV=1 runs the sources through tsx, a development dependency: run npm ci (with dev dependencies)\n');
    process.exit(1);
  }
  tsx.register();
  await import('../agent/src/cli/run.ts');
} else if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  process.stderr.write('conegate: the bundle dist/conegate.js is missing: run npm run build (or set CONEGATE_DEV=1 to run the sources through tsx)\n');
  process.exitCode = 1;
}
