import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PageTransport } from './model.ts';
import { TRANSPORT_MARKER, bundleDirCandidates, injectTransport, loadPageFiles, transportBlock } from './static.ts';

const T: PageTransport = { host: 'agent', base: '/api/v1', live: 'sse', pollMs: 2000, platform: 'unifi' };

test('the transport block cannot close its element; JSON.parse reads it back unchanged', () => {
  const evil = { ...T, base: '</script><script>alert(1)</script>&\u2028' } as PageTransport;
  const block = transportBlock(evil);
  const inner = block.slice(block.indexOf('>') + 1, block.lastIndexOf('</script>'));
  assert.doesNotMatch(inner, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(inner), evil);
  assert.equal(injectTransport(`<head>${TRANSPORT_MARKER}</head>`, T), `<head>${transportBlock(T)}</head>`);
  assert.equal(injectTransport('<head></head>', T), `<head>${transportBlock(T)}</head>`, 'no marker: before </head>');
});

test('the bundle directory: index with the block, the assets with their types; a placeholder without a bundle', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-static-'));
  try {
    await writeFile(join(dir, 'index.html'), `<!doctype html><head>${TRANSPORT_MARKER}<script src="app.js" defer></script></head>`);
    await writeFile(join(dir, 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'app.css'), 'body{}');
    const f = await loadPageFiles(dir, T);
    assert.ok(f.fromBundle);
    assert.match(f.index, /id="conegate-transport">\{"host":"agent"/);
    assert.deepEqual([...f.files.keys()].sort(), ['/app.css', '/app.js']);
    assert.equal(f.files.get('/app.js')!.type, 'text/javascript; charset=utf-8');
    const none = await loadPageFiles(join(dir, 'missing'), T);
    assert.equal(none.fromBundle, false);
    assert.match(none.index, /npm run build/);
    assert.match(none.index, /conegate-transport/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(bundleDirCandidates('/opt/conegate/dist/conegate.js'), ['/opt/conegate/dist/web', '/opt/conegate/dist/web']);
  assert.deepEqual(bundleDirCandidates('/repo/bin/conegate.js'), ['/repo/bin/web', '/repo/dist/web']);
});
