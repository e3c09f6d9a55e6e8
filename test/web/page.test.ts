/**
 * The page in a real browser (issue #19 acceptance): Debian's chromium, headless, driven by
 * playwright-core against the fake agent (or a real one: test/web/target.ts). Waits are bounded
 * waits for a condition; the 5 s for relayed -> direct is the acceptance bound.
 * Screenshots go to CONEGATE_SCREENSHOTS_DIR (docs/screenshots for the README), else the run directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadTarget, type PageTarget } from './target.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';
/** The bound for a path change to show without reload. */
const PATH_CHANGE_BOUND_MS = 5000;
/** Generous bound for everything else the page must show after an action. */
const SHOW_MS = 10_000;
const SHOTS = process.env.CONEGATE_SCREENSHOTS_DIR ?? join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'screenshots');

describe('the conegate page in chromium', () => {
  let browser: Browser;
  let page: Page;
  let target: PageTarget;
  const dialogs: string[] = [];
  const consoleProblems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install --no-install-recommends chromium)`);
    // What the page loads is the bundle as built; build it here too so the file alone runs fresh.
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    target = await loadTarget();
    browser = await chromium.launch({ executablePath: target.browserExecutable ?? CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      // The 401s before signing in and the 400 of the refused settings are answers the test asks for.
      if (/^Failed to load resource: the server responded with a status of 40[01] /.test(m.text())) return;
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) consoleProblems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`));
    // Runs before the page's own script; CSP does not apply to it. Records every violation the page causes.
    await page.addInitScript('window.__cgCsp = []; document.addEventListener("securitypolicyviolation", (e) => window.__cgCsp.push(e.violatedDirective + " " + e.blockedURI));');
  });

  after(async () => {
    await browser?.close();
    await target?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const tab = async (id: string) => {
    await page.click(`a[data-tab="${id}"]`);
    await page.locator(`a[data-tab="${id}"][aria-selected="true"]`).waitFor({ timeout: SHOW_MS });
  };

  test('signs in with the token; the page is served with a strict CSP and the session cookie is HttpOnly', async () => {
    const res = await page.goto(target.url);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    if (target.token !== null) {
      await page.locator('#cg-token').waitFor({ timeout: SHOW_MS });
      await page.fill('#cg-token', 'not-the-token');
      await page.click('.cg-login button[type=submit]');
      await page.getByText('The agent refused this token.').waitFor({ timeout: SHOW_MS });
      await page.fill('#cg-token', target.token);
      await page.click('.cg-login button[type=submit]');
    }
    await page.locator('tr[data-peer]').first().waitFor({ timeout: SHOW_MS });
    assert.doesNotMatch(String(await page.evaluate('document.cookie')), /cg_session/);
  });

  test('a peer named like markup shows as that literal text and runs nothing', async () => {
    const cell = page.locator('td[data-col="name"]', { hasText: target.markupPeerName });
    await cell.waitFor({ timeout: SHOW_MS });
    assert.equal((await cell.innerText()).trim(), target.markupPeerName);
    assert.equal(await page.locator('.cg img').count(), 0);
    assert.deepEqual(dialogs, []);
  });

  test('a peer going from relayed to direct shows without reload within 5 s', async () => {
    const { id } = target.relayedPeer;
    const path = page.locator(`tr[data-peer="${id}"] [data-col="path"] .cg-path`);
    await path.waitFor({ timeout: SHOW_MS });
    assert.match(await path.innerText(), /relay/i);
    await page.evaluate('window.__cgSamePage = true');
    await target.makeDirect();
    await page.locator(`tr[data-peer="${id}"] [data-col="path"] .cg-path`, { hasText: /^direct$/ }).waitFor({ timeout: PATH_CHANGE_BOUND_MS });
    assert.equal(await page.evaluate('window.__cgSamePage'), true, 'the page was reloaded');
    assert.equal(await page.locator(`tr[data-peer="${id}"] [data-col="reason"]`).count(), 0, 'a direct peer shows no relay reason');
  });

  test('a row expands into the peer\'s event timeline and latency chart', async () => {
    const { id } = target.relayedPeer;
    await page.click(`tr[data-peer="${id}"]`);
    const detail = page.locator(`tr[data-detail="${id}"]`);
    await detail.locator('.cg-timeline li').first().waitFor({ timeout: SHOW_MS });
    await detail.locator('.cg-chart canvas').waitFor({ timeout: SHOW_MS });
    // Admins' screens: the whole table fits 1024 px without scrolling sideways.
    assert.equal(await page.evaluate('(() => { const b = document.querySelector(".cg-body"); return b.scrollWidth <= b.clientWidth; })()'), true);
    await shot('peers');
  });

  test('a NAT-PMP mapping appears, and deleting one leaves the others and the epoch', async () => {
    await tab('mappings');
    const m = await target.requestMapping();
    const id = `${m.client}/${m.protocol}/${m.internalPort}`;
    const row = page.locator(`tr[data-mapping="${id}"]`);
    await row.waitFor({ timeout: SHOW_MS });
    assert.match(await row.innerText(), new RegExp(`${m.externalPort}`));
    await shot('mappings');
    const before = await target.mappings();
    assert.ok(before.ids.includes(id));
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached', timeout: SHOW_MS });
    await page.getByRole('status').filter({ hasText: 'Deleted' }).waitFor({ timeout: SHOW_MS });
    const afterDelete = await target.mappings();
    assert.deepEqual(afterDelete.ids, before.ids.filter((x) => x !== id));
    assert.equal(afterDelete.epochSec, before.epochSec);
    assert.equal(await page.locator('tr[data-mapping]').count(), afterDelete.ids.length);
  });

  test('an IPS finding shows with its exact fix and where to click', async () => {
    await tab('checks');
    const f = page.locator('li.cg-finding', { hasText: target.finding.title });
    await f.waitFor({ timeout: SHOW_MS });
    assert.equal((await f.locator('.cg-fix').innerText()).trim(), target.finding.fix.trim());
    assert.equal((await f.locator('.cg-where').innerText()).trim(), target.finding.where.trim());
    await page.locator('dd[data-fact="mapping"]').waitFor({ timeout: SHOW_MS });
    await shot('checks');
  });

  test('an invalid settings change is refused naming the field; a valid one is applied', async () => {
    await tab('settings');
    const editor = page.locator('#cg-config');
    await page.locator('#cg-config:not([disabled])').waitFor({ timeout: SHOW_MS });
    const config = JSON.parse(await editor.inputValue()) as Record<string, any>;
    await editor.fill(JSON.stringify(target.invalidEdit(config), null, 2));
    await page.click('.cg-settings button[type=submit]');
    const alert = page.locator('#cg-settings-error [role=alert]');
    await alert.waitFor({ timeout: SHOW_MS });
    const text = await alert.innerText();
    assert.match(text, /^Refused: /);
    assert.ok(text.includes(target.invalidField), text);
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');
    // The cursor is put on the refused key (for a field ending in a key, not an array index).
    const lastKey = /([A-Za-z0-9_]+)$/.exec(target.invalidField)?.[1];
    if (lastKey) assert.equal(await page.evaluate('(() => { const e = document.getElementById("cg-config"); return e.value.slice(e.selectionStart, e.selectionEnd); })()'), lastKey);
    await shot('settings');
    await editor.fill(JSON.stringify(target.validEdit(config), null, 2));
    await page.click('.cg-settings button[type=submit]');
    await page.locator('#cg-settings-error [role=status]', { hasText: /Applied at|needs a restart/ }).waitFor({ timeout: SHOW_MS });
    assert.equal(await alert.count(), 0);
  });

  test('NAT rules: apply shows the countdown to auto-revert, confirm ends it', async () => {
    await tab('nat');
    await page.getByRole('button', { name: 'Apply' }).click();
    const countdown = page.locator('[data-countdown]');
    await countdown.waitFor({ timeout: SHOW_MS });
    assert.match(await countdown.innerText(), /^\d+ s$/);
    await shot('nat');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-pending]').waitFor({ state: 'detached', timeout: SHOW_MS });
  });

  test('no CSP violation, script error or dialog during the whole session', async () => {
    assert.deepEqual(await page.evaluate('window.__cgCsp'), []);
    assert.deepEqual(consoleProblems, []);
    assert.deepEqual(dialogs, []);
  });
});
