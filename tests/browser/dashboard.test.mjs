// Browser test: Debian's chromium (headless, driven by playwright-core)
// against the running stack through nginx (E2E_BASE_URL). Proves that every
// asset shows a moving price, that an alert set just below the live price
// with type Above fires (banner shown, alert leaves the Active list), and
// that Delete removes an alert. Leaves a screenshot in E2E_ARTIFACTS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, base, finish, launch, requireEnv, step } from './lib.mjs';

requireEnv();


const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
await page.goto(base, { waitUntil: 'domcontentloaded' });

const rows = page.locator('tr[data-ticker]');
async function priceOf(ticker) {
  const text = await page.locator(`tr[data-ticker="${ticker}"] .price`).innerText();
  return Number(text.replace(/[^0-9.]/g, ''));
}

let tickers = [];
await step('every asset is listed with a price', async () => {
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll('tr[data-ticker]')];
    return r.length >= 15 && r.every((x) => /[0-9]/.test(x.querySelector('.price')?.textContent || ''));
  }, null, { timeout: 15000 });
  tickers = await rows.evaluateAll((r) => r.map((x) => x.dataset.ticker));
  assert.ok(tickers.length >= 15, `only ${tickers.length} assets`);
});

await step('the page says it is connected', async () => {
  await page.waitForFunction(() => /connected/i.test(document.querySelector('#status')?.textContent || '')
    && !/disconnected/i.test(document.querySelector('#status')?.textContent || ''), null, { timeout: 10000 });
});

await step('every asset shows a moving price', async () => {
  const first = {};
  for (const t of tickers) first[t] = await page.locator(`tr[data-ticker="${t}"] .price`).innerText();
  const moved = new Set();
  const deadline = Date.now() + 15000;
  while (moved.size < tickers.length && Date.now() < deadline) {
    await page.waitForTimeout(500);
    for (const t of tickers) {
      if (!moved.has(t) && (await page.locator(`tr[data-ticker="${t}"] .price`).innerText()) !== first[t]) moved.add(t);
    }
  }
  const still = tickers.filter((t) => !moved.has(t));
  assert.deepEqual(still, [], `prices that never moved: ${still.join(', ')}`);
});

async function setAlert(ticker, threshold, type) {
  const row = page.locator(`tr[data-ticker="${ticker}"]`);
  await row.locator('input.threshold').fill(String(threshold));
  await row.locator('select.type').selectOption(type);
  await row.locator('button.set-alert').click();
}

await step('an Above alert just below the price fires: banner, and it leaves the Active list', async () => {
  const ticker = tickers.includes('MSFT') ? 'MSFT' : tickers[0];
  const p = await priceOf(ticker);
  assert.ok(p > 0, `no price for ${ticker}`);
  await setAlert(ticker, (p * 0.98).toFixed(2), 'above');
  await page.locator('#banner').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await page.locator('#banner').innerText(), new RegExp(ticker.replace(/[-=^.]/g, '\\$&')));
  await page.waitForFunction((t) => !(document.querySelector('#alerts-list')?.textContent || '').includes(t),
    ticker, { timeout: 10000 });
  await page.screenshot({ path: join(artifacts, 'dashboard-alert-fired.png'), fullPage: true });
});

await step('Delete removes an alert', async () => {
  const ticker = tickers.includes('AAPL') ? 'AAPL' : tickers[1];
  const p = await priceOf(ticker);
  const before = Number((await page.locator('#alert-count').innerText()).replace(/\D/g, '') || 0);
  await setAlert(ticker, (p * 3).toFixed(2), 'above');
  const item = page.locator('#alerts-list [data-alert-id]').filter({ hasText: ticker });
  await item.first().waitFor({ timeout: 10000 });
  await page.waitForFunction((n) => Number((document.querySelector('#alert-count')?.textContent || '').replace(/\D/g, '') || 0) === n + 1,
    before, { timeout: 5000 });
  await item.first().locator('button').click();
  await page.waitForFunction((n) => Number((document.querySelector('#alert-count')?.textContent || '').replace(/\D/g, '') || 0) === n,
    before, { timeout: 10000 });
  assert.equal(await item.count(), 0);
});

await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
await browser.close();
finish();
