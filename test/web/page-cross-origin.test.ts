/**
 * Local API safety in the browser (issue #19: "a cross-origin write and a form POST from another origin
 * are refused ... in the browser"): the admin is signed in to the agent's real web server
 * (agent/src/web/server.ts) in chromium, then opens another origin (another port on the same host: the
 * same site, so the SameSite=Strict cookie still goes along) whose page tries to delete a mapping with
 * a JSON fetch, a no-cors text/plain fetch and an auto-built form POST. None may change anything.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serverTarget } from './server-target.ts';
import type { PageTarget } from './target.ts';

const CHROMIUM = '/usr/bin/chromium';
let browser: Browser;
let page: Page;
let target: PageTarget;
let evil: Server;
let evilUrl: string;

function evilPage(agent: string, body: string): string {
  // The attacker's own page: inline script is theirs to run (no CSP of ours applies there).
  const [name, value] = [body.slice(0, -2), body.slice(-2)];
  return `<!doctype html><html><body>
<form id="f" method="POST" action="${agent}/api/v1/pmp/delete" enctype="text/plain"><input name='${name}' value='${value}'></form>
<script>
window.results = [];
fetch(${JSON.stringify(`${agent}/api/v1/pmp/delete`)}, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} })
  .then((r) => results.push('json:' + r.status), () => results.push('json:blocked'));
fetch(${JSON.stringify(`${agent}/api/v1/pmp/delete`)}, { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(body)} })
  .then((r) => results.push('no-cors:' + r.type), () => results.push('no-cors:error'));
</script></body></html>`;
}

before(async () => {
  target = await serverTarget();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  page = await browser.newPage();
  await page.goto(target.url);
  await page.fill('#cg-token', target.token!);
  await page.click('.cg-login button[type=submit]');
  await page.locator('tr[data-peer]').first().waitFor({ timeout: 10_000 });
  const [id] = (await target.mappings()).ids;
  const [client, protocol, port] = id!.split('/');
  const body = JSON.stringify({ client, protocol, internalPort: Number(port) });
  const agent = new URL(target.url).origin;
  evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(evilPage(agent, body)));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
});

after(async () => {
  await browser?.close();
  await target?.close();
  await new Promise((r) => evil?.close(r));
});

test('another origin\'s page, with the admin signed in: fetches and a form POST change nothing', async () => {
  const before = await target.mappings();
  await page.goto(evilUrl);
  await page.waitForFunction('window.results.length === 2', undefined, { timeout: 10_000 });
  const results = (await page.evaluate('window.results')) as string[];
  assert.ok(results.includes('json:blocked'), `the JSON write needs a CORS preflight the agent never grants: ${results.join(', ')}`);
  assert.deepEqual(await target.mappings(), before, 'no fetch deleted the mapping');
  const [response] = await Promise.all([page.waitForNavigation(), page.evaluate('document.getElementById("f").submit()')]);
  assert.ok(response && [403, 415].includes(response.status()), `form POST answered ${response?.status()}`);
  assert.deepEqual(await target.mappings(), before, 'the form POST deleted nothing');
});
