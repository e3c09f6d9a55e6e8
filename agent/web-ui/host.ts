/**
 * For the hosts that serve the bundle's index.html (the agent's web server, the fake agent of the browser
 * tests): write the PageTransport into the template as a JSON data block. A `type="application/json"`
 * script is never executed, so a strict CSP (script-src 'self') allows it; its text must still not be
 * able to close the element, hence `<`, `>` and `&` as \u escapes (JSON.parse reads them back), and
 * U+2028/2029 for old parsers.
 */
import type { PageTransport } from '../src/web/model.ts';
import { TRANSPORT_ELEMENT_ID } from './transport.ts';

/** The marker in dist/web/index.html that the host replaces with the transport block. */
export const TRANSPORT_MARKER = '<!--conegate-transport-->';

export function transportBlock(transport: PageTransport): string {
  const json = JSON.stringify(transport).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `<script type="application/json" id="${TRANSPORT_ELEMENT_ID}">${json}</script>`;
}

/** The template with the block in place of its marker; throws when the template has no marker. */
export function injectTransport(template: string, transport: PageTransport): string {
  const at = template.indexOf(TRANSPORT_MARKER);
  if (at < 0) throw new Error(`index.html has no ${TRANSPORT_MARKER} marker`);
  return template.slice(0, at) + transportBlock(transport) + template.slice(at + TRANSPORT_MARKER.length);
}
