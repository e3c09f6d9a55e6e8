/**
 * The page's files: the front-end bundle (dist/web/: index.html template, app.js, app.css, favicon.svg)
 * read once into memory, with the PageTransport written into index.html as a JSON data block. Until a
 * bundle is there, a placeholder index says how to build it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TRANSPORT_ELEMENT_ID } from '../../web-ui/transport.ts';
import type { PageTransport } from './model.ts';

/** The marker in dist/web/index.html that the host replaces with the transport block. */
export const TRANSPORT_MARKER = '<!--conegate-transport-->';

/**
 * `<`, `>`, `&` and U+2028/2029 as \u escapes: the text can then never close the script element, and
 * JSON.parse reads them back unchanged. The block is never executed (type application/json), so the
 * strict CSP allows it.
 */
export function transportBlock(t: PageTransport): string {
  const json = JSON.stringify(t).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `<script type="application/json" id="${TRANSPORT_ELEMENT_ID}">${json}</script>`;
}

export function injectTransport(template: string, t: PageTransport): string {
  const at = template.indexOf(TRANSPORT_MARKER);
  // A template without the marker still gets the block, before </head>.
  if (at < 0) return template.replace(/<\/head>/i, `${transportBlock(t)}</head>`);
  return template.slice(0, at) + transportBlock(t) + template.slice(at + TRANSPORT_MARKER.length);
}

export const PLACEHOLDER_INDEX = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>conegate</title>${TRANSPORT_MARKER}</head>
<body><h1>conegate</h1><p>The page's front-end bundle is not installed (dist/web/ is missing): run <code>npm run build</code>.
The API answers at <code>/api/v1/page</code>.</p></body></html>
`;

const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

export interface PageFiles {
  index: string;
  files: Map<string, { type: string; body: Buffer }>;
  fromBundle: boolean;
}

export async function loadPageFiles(dir: string | undefined, t: PageTransport): Promise<PageFiles> {
  const files = new Map<string, { type: string; body: Buffer }>();
  let template: string | undefined;
  if (dir) {
    template = await readFile(join(dir, 'index.html'), 'utf8').catch(() => undefined);
    if (template !== undefined) {
      for (const [name, type] of Object.entries(TYPES)) {
        const body = await readFile(join(dir, name)).catch(() => undefined);
        if (body) files.set(`/${name}`, { type, body });
      }
    }
  }
  return { index: injectTransport(template ?? PLACEHOLDER_INDEX, t), files, fromBundle: template !== undefined };
}

/** dist/web beside the running bundle (dist/conegate.js) or the launcher's dist/ (bin/conegate.js). */
export function bundleDirCandidates(entry: string | undefined): string[] {
  if (!entry) return [];
  const d = dirname(entry);
  return [join(d, 'web'), join(d, '..', 'dist', 'web')];
}
