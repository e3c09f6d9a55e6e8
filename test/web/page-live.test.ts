/**
 * The page's live loop when things go wrong: the event stream refused (the agent's limit of open pages)
 * falls back to polling and still shows a path change within the 5 s; a session that ends
 * (token rotated) brings back the sign-in form instead of a silently stale page, and signing in again
 * resumes. Debian's chromium through playwright-core, against the fake agent.
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
/** The bound for a path change to show without reload. */
const PATH_CHANGE_BOUND_MS = 5000;
const SHOW_MS = 10_000;
const TOKEN = 'live-token-0123456789';

describe('the page when the event stream is refused and the session ends', () => {
  let browser: Browser;
  let page: Page;
  let agent: FakeAgent;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install --no-install-recommends chromium)`);
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'inherit' });
    agent = await startFakeAgent({ token: TOKEN, eventsRefused: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
  });

  after(async () => {
    await browser?.close();
    await agent?.close();
  });

  const signIn = async () => {
    await page.locator('#cg-token').waitFor({ timeout: SHOW_MS });
    await page.fill('#cg-token', TOKEN);
    await page.click('.cg-login button[type=submit]');
    await page.locator('tr[data-peer]').first().waitFor({ timeout: SHOW_MS });
  };

  test('a refused event stream falls back to polling, and a path change still shows within 5 s', async () => {
    await page.goto(`${agent.url}/`);
    await signIn();
    await page.locator('.cg-live[data-state="poll"]').waitFor({ timeout: SHOW_MS });
    assert.ok((agent.hits.get('GET /api/v1/events') ?? 0) >= 1, 'the page tried the event stream first');
    agent.setPeer('n-branch', { path: 'direct', endpoint: '198.51.100.20:41641', relay: null, reason: null, forSec: 0 });
    await page.locator('tr[data-peer="n-branch"] [data-col="path"] .cg-path', { hasText: /^direct$/ }).waitFor({ timeout: PATH_CHANGE_BOUND_MS });
  });

  test('an ended session shows the sign-in form; signing in again resumes the live page', async () => {
    agent.endSessions();
    await signIn();
    agent.setPeer('n-branch', { path: 'udp-relay', endpoint: '203.0.113.40:41642', relay: null, reason: { code: 'no-answer', text: 'no answer on any candidate' } });
    await page.locator('tr[data-peer="n-branch"] [data-col="path"] .cg-path', { hasText: 'UDP relay' }).waitFor({ timeout: PATH_CHANGE_BOUND_MS });
  });
});

describe('the page between pushes: counters age on their own', () => {
  let browser: Browser;
  let page: Page;
  let agent: FakeAgent;

  before(async () => {
    agent = await startFakeAgent({ quiet: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
  });

  after(async () => {
    await browser?.close();
    await agent?.close();
  });

  test('time on path counts up and a mapping lifetime counts down with no new model', async () => {
    await page.goto(`${agent.url}/`);
    const onPath = page.locator('tr[data-peer="n-branch"] td').nth(8);
    await onPath.waitFor({ timeout: SHOW_MS });
    const first = await onPath.innerText();
    const pushes = agent.hits.get('GET /api/v1/events') ?? 0;
    await onPath.filter({ hasNotText: first }).waitFor({ timeout: SHOW_MS });
    // Two units are shown, so a lifetime under an hour moves every second.
    agent.addMapping({ client: '192.168.1.50', protocol: 'udp', internalPort: 5000, externalPort: 5000, lifetimeSec: 90, via: 'pcp' });
    await page.click('a[data-tab="mappings"]');
    const lifetime = page.locator('tr[data-mapping="192.168.1.50/udp/5000"] [data-col="lifetime"]');
    await lifetime.waitFor({ timeout: SHOW_MS });
    const was = await lifetime.innerText();
    await lifetime.filter({ hasNotText: was }).waitFor({ timeout: SHOW_MS });
    assert.equal(agent.hits.get('GET /api/v1/events') ?? 0, pushes, 'one event stream, no reconnect');
    assert.equal(agent.hits.get('GET /api/v1/page') ?? 0, 0, 'no polling either');
  });
});
