// Browser test: the page shows each fired alert once — one banner, one line in
// "Triggered" — whatever the server sends twice. The real server is
// made to send every alert of the user again: the webapps are restarted (a
// rolling restart of the test stack, E2E_STACK) so the page's alert stream
// reconnects, with its resume point rewritten to the start of the history
// (Playwright rewrites the request, not the answer): the server replays
// alerts the page already shows. Then the page is reloaded, so its history
// and the stream's replay overlap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { artifacts, base, finish, launch, requireEnv, step } from './lib.mjs';

requireEnv();


const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));

// Counts the banners the page shows (each fired alert adds one to #banners).
await context.addInitScript(() => {
  window.__banners = 0;
  document.addEventListener('DOMContentLoaded', () => {
    const b = document.getElementById('banners');
    new MutationObserver((ms) => {
      for (const m of ms) {
        window.__banners += [...m.addedNodes].filter((n) => n.classList?.contains('alert-banner')).length;
      }
    }).observe(b, { childList: true });
  });
});

// When set, every alert-stream request asks for the whole history again.
let replayAll = false;
let replays = 0;
await page.route('**/api/stream-alerts*', (route) => {
  if (!replayAll) return route.continue();
  replays++;
  const url = new URL(route.request().url());
  url.searchParams.set('last_event_id', '0-0');
  const headers = { ...route.request().headers(), 'last-event-id': '0-0' };
  return route.continue({ url: url.toString(), headers });
});

async function priceOf(ticker) {
  const text = await page.locator(`tr[data-ticker="${ticker}"] .price`).innerText();
  return Number(text.replace(/[^0-9.]/g, ''));
}
async function recentIds() {
  return page.locator('#recent-list li').evaluateAll((li) => li.map((x) => x.dataset.alertId));
}

await page.goto(base, { waitUntil: 'domcontentloaded' });
let tickers = [];
await step('prices are live', async () => {
  // Assets that tick now (the universe may hold others, without a price).
  const live = 'tr[data-ticker][data-stale="false"]:has(.price[data-price])';
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 2, live, { timeout: 15000 });
  tickers = await page.locator(live).evaluateAll((r) => r.map((x) => x.dataset.ticker));
});

await step('two alerts fire: two banners, two lines in Recently triggered', async () => {
  for (const t of tickers.slice(0, 2)) {
    const row = page.locator(`tr[data-ticker="${t}"]`);
    await row.locator('input.threshold').fill((await priceOf(t) * 0.9).toFixed(2));
    await row.locator('select.type').selectOption('above');
    await row.locator('button.set-alert').click();
    await page.waitForFunction((n) => document.querySelectorAll('#recent-list li').length >= n,
      tickers.indexOf(t) + 1, { timeout: 10000 });
  }
  const ids = await recentIds();
  assert.equal(ids.length, 2, `recent: ${ids}`);
  assert.equal(new Set(ids).size, 2);
  assert.equal(await page.evaluate(() => window.__banners), 2);
});

await step('the server replays them on a reconnect: nothing shown twice', async () => {
  const before = await recentIds();
  replayAll = true;
  // The replicas end their streams as they restart: the page reconnects.
  assert.ok(process.env.E2E_STACK, 'E2E_STACK not set (./stack test sets it)');
  execFileSync(process.env.E2E_STACK, ['restart', 'webapp'],
    { env: { ...process.env, STACK_TEST_MODE: '1' }, stdio: 'ignore', timeout: 120000 });
  const deadline = Date.now() + 15000;
  while (replays === 0 && Date.now() < deadline) await page.waitForTimeout(200);
  assert.ok(replays > 0, 'the alert stream did not reconnect');
  await page.waitForTimeout(2000); // the replay has landed
  const after = await recentIds();
  assert.deepEqual(after, before, `recent after the replay: ${after}`);
  assert.equal(await page.evaluate(() => window.__banners), 2, 'a replayed alert was bannered again');
});

await step('after a reload, history and replay overlap: each alert once, no banner', async () => {
  const before = await recentIds();
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelectorAll('#recent-list li').length >= 2, null,
    { timeout: 10000 });
  await page.waitForTimeout(2500); // the stream (asked for the whole history) has replayed
  const after = await recentIds();
  assert.deepEqual([...after].sort(), [...before].sort(), `recent after reload: ${after}`);
  assert.equal(await page.evaluate(() => window.__banners), 0, 'history shown again as new alerts');
});

await page.screenshot({ path: join(artifacts, 'alerts-once.png'), fullPage: true });
await browser.close();
finish();
