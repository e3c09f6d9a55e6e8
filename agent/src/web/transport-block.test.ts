/** The PageTransport block every host writes into the page (agent/src/web/static.ts), read back by the front-end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTransport } from '../../web-ui/transport.ts';
import { injectTransport, TRANSPORT_MARKER, transportBlock } from './static.ts';

test('the transport block cannot close its element and reads back the same', () => {
  const transport = { host: 'agent' as const, base: '/api/v1</script><script>alert(1)</script>', live: 'sse' as const, pollMs: 2000, platform: 'linux' as const };
  const block = transportBlock(transport);
  assert.equal(block.indexOf('</script>'), block.length - '</script>'.length);
  const json = block.slice(block.indexOf('>') + 1, -'</script>'.length);
  assert.deepEqual(parseTransport(json), transport);
});

test('inject replaces the marker; a template without one gets the block before </head>', () => {
  const page = injectTransport(`<head>${TRANSPORT_MARKER}</head>`, { host: 'agent', base: '/api/v1', live: 'sse', pollMs: 2000, platform: 'unifi' });
  assert.match(page, /^<head><script type="application\/json" id="conegate-transport">\{.*\}<\/script><\/head>$/);
  assert.match(injectTransport('<head></head>', { host: 'agent', base: '/api/v1', live: 'sse', pollMs: 2000, platform: 'unifi' }), /^<head><script type="application\/json" id="conegate-transport">.*<\/script><\/head>$/);
});
