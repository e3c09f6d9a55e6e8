/**
 * The same bundle on an appliance host (pfSense's transport): no token of ours, a query-string API base
 * (`/conegate/api.php?r=`), polling instead of server-sent events, and the appliance's CSRF header on
 * every write. The fake refuses a write without the header, so a working delete proves it is sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFakeAgent, type FakeAgent } from './fake-agent.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';
/** The bound for a path change to show without reload (polling every 2 s must meet it too). */
const PATH_CHANGE_BOUND_MS = 5000;
const SHOW_MS = 10_000;

describe('the page on a pfSense host: polling, CSRF header, query-string API base', () => {
  let browser: Browser;
  let page: Page;
  let agent: FakeAgent;
  const problems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install --no-install-recommends chromium)`);
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'inherit' });
    agent = await startFakeAgent({ appliance: { csrfToken: 'csrf-7f3a' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
  });

  after(async () => {
    await browser?.close();
    await agent?.close();
  });

  test('opens without a sign-in and polls through api.php', async () => {
    await page.goto(`${agent.url}/`);
    await page.locator('tr[data-peer]').first().waitFor({ timeout: SHOW_MS });
    assert.equal(await page.locator('#cg-token').count(), 0);
    assert.equal(agent.hits.get('GET /api/v1/events') ?? 0, 0, 'an appliance host has no event stream');
    await page.locator('.cg-live[data-state="poll"]').waitFor({ timeout: SHOW_MS });
  });

  test('a peer going from relayed to direct shows within 5 s by polling', async () => {
    const before = agent.hits.get('GET /conegate/api.php') ?? 0;
    agent.setPeer('n-branch', { path: 'direct', endpoint: '198.51.100.20:41641', relay: null, reason: null, forSec: 0 });
    await page.locator('tr[data-peer="n-branch"] [data-col="path"] .cg-path', { hasText: /^direct$/ }).waitFor({ timeout: PATH_CHANGE_BOUND_MS });
    assert.ok((agent.hits.get('GET /conegate/api.php') ?? 0) > before);
  });

  test('a delete carries the CSRF header and removes only that mapping', async () => {
    agent.addMapping({ client: '192.168.1.44', protocol: 'tcp', internalPort: 8443, externalPort: 8443, lifetimeSec: 3600, via: 'pcp' });
    await page.click('a[data-tab="mappings"]');
    const row = page.locator('tr[data-mapping="192.168.1.44/tcp/8443"]');
    await row.waitFor({ timeout: SHOW_MS });
    const epoch = agent.model.mappings!.epochSec;
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached', timeout: SHOW_MS });
    assert.deepEqual(agent.model.mappings!.items.map((m) => m.id), ['192.168.1.20/udp/51820']);
    assert.equal(agent.model.mappings!.epochSec, epoch);
    assert.deepEqual(problems, []);
  });

  test('a model the page cannot read fails in its view only, with a message, and comes back with the next good one', async () => {
    await page.click('a[data-tab="peers"]');
    const addresses = agent.model.peers[0]!.addresses;
    agent.update((m) => ((m.peers[0] as { addresses: unknown }).addresses = 42));
    const error = page.locator('[data-view-error]');
    await error.waitFor({ timeout: SHOW_MS });
    assert.match(await error.innerText(), /The Peers view could not be shown: /);
    await page.click('a[data-tab="mappings"]');
    await page.locator('tr[data-mapping]').first().waitFor({ timeout: SHOW_MS });
    await page.click('a[data-tab="peers"]');
    await error.waitFor({ timeout: SHOW_MS });
    agent.update((m) => (m.peers[0]!.addresses = addresses));
    await page.locator('tr[data-peer]').first().waitFor({ timeout: SHOW_MS });
    assert.equal(await error.count(), 0);
    assert.deepEqual(problems, []);
  });
});
