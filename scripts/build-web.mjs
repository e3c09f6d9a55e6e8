#!/usr/bin/env node
// The page's front-end bundle (agent/web-ui/, issue #19), written into dist/web/ by `npm run build`
// (or alone: `node scripts/build-web.mjs`):
//   dist/web/app.js      preact + htm + uPlot and the views, one IIFE for browsers (loaded with defer)
//   dist/web/app.css     the page's styles and uPlot's, all under .cg / .uplot
//   dist/web/favicon.svg the tab icon
//   dist/web/index.html  the template; a host replaces <!--conegate-transport--> with its PageTransport block
// No CDN and nothing inline: every host serves these files from its own origin under a strict CSP.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = new URL('..', import.meta.url).pathname;

export async function buildWeb(outDir = join(ROOT, 'dist', 'web')) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: 'agent/web-ui/app/main.ts' },
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // The appliances' GUIs are used from current desktop browsers; ES2020 keeps optional chaining native.
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: false,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const template = readFileSync(join(ROOT, 'agent/web-ui/index.html'), 'utf8');
  if (!template.includes('<!--conegate-transport-->')) throw new Error('build-web: agent/web-ui/index.html lost its transport marker');
  for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(ROOT, 'agent/web-ui', f), join(outDir, f));
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { bytes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { bytes } = await buildWeb();
  process.stderr.write(`build: dist/web/ (app.js, app.css, index.html, favicon.svg), ${(bytes / 1024).toFixed(0)} KiB\n`);
}
