/**
 * The bundle's entry (dist/web/app.js): reads the host's PageTransport block and mounts the page into
 * #conegate-app. Loaded with `defer` from the same origin, so a CSP of script-src 'self' holds.
 */
import 'uplot/dist/uPlot.min.css';
import '../app.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { parseTransport, TRANSPORT_ELEMENT_ID } from '../transport.ts';
import { Api } from './api.ts';
import { App } from './app.ts';

const MOUNT_ID = 'conegate-app';

function start(): void {
  const root = document.getElementById(MOUNT_ID);
  if (root === null) return;
  try {
    const transport = parseTransport(document.getElementById(TRANSPORT_ELEMENT_ID)?.textContent ?? null);
    render(html`<${App} api=${new Api(transport)} />`, root);
  } catch (e) {
    root.textContent = `conegate: ${(e as Error).message}`;
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
