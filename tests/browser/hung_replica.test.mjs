// Browser test: a hung replica (SIGSTOP: connections stay open, nothing
// comes) must not leave the dashboard frozen. Debian's chromium (headless,
// driven by playwright-core) against the test stack through nginx
// (E2E_BASE_URL; replica pids in E2E_STATE/run/webapp-N.pid).
//
// The page's streams carry a heartbeat event (interval_ms) first and then
// on idle streams. With the replica serving its streams stopped, the page
// must notice the silence after twice the heartbeat interval, reconnect by
// itself to another replica (nginx leaves the hung one out once an API call
// timed out on it: at most 3 s more) and show moving prices again (the new
// stream's first tick: 1 s more); an alert set then reaches it. The replica gets SIGCONT in every case.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, base, finish, launch, requireEnv, step } from './lib.mjs';

requireEnv('E2E_STATE');
const state = process.env.E2E_STATE;
const API_FAILOVER_MS = 3000; // the bound on an API call with a hung replica
const FIRST_EVENT_MS = 1000;  // a new price stream's first tick
const TIMER_SLACK_MS = 1000;  // setTimeout on a loaded machine


async function until(what, pred, timeoutMs, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

let stopped = null; // pid while SIGSTOPped
function resume() {
  if (stopped === null) return;
  try { process.kill(stopped, 'SIGCONT'); } catch (e) { /* gone */ }
  stopped = null;
}
process.on('exit', resume);
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.on(sig, () => { resume(); process.exit(code); });

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));

// Every stream and get-alerts call of the page: when, answered by whom.
const calls = [];
const kindOf = (url) => (url.match(/\/api\/(stream-prices|stream-alerts|get-alerts)/) || [])[1];
page.on('request', (r) => {
  const kind = kindOf(r.url());
  if (kind) calls.push({ kind, phase: 'request', t: Date.now() });
});
page.on('response', (r) => {
  const kind = kindOf(r.url());
  if (kind) calls.push({ kind, phase: 'response', t: Date.now(), status: r.status(), by: r.headers()['x-served-by'] });
});
// Every change of a price cell, timed in the page's clock (= ours).
await page.addInitScript(() => {
  window.__priceChanges = [];
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(() => window.__priceChanges.push(Date.now()))
      .observe(document.getElementById('prices-body'), { subtree: true, childList: true, characterData: true });
  });
});
await page.goto(base, { waitUntil: 'domcontentloaded' });

let victim = null;
let heartbeatMs = 0;
await step('the dashboard is live, its streams on one replica', async () => {
  await page.waitForFunction(() => /connected/i.test(document.querySelector('#status')?.textContent || '')
    && !/disconnected/i.test(document.querySelector('#status')?.textContent || ''), null, { timeout: 15000 });
  await until('both streams answered', () => ['stream-prices', 'stream-alerts']
    .every((k) => calls.some((c) => c.kind === k && c.phase === 'response' && c.status === 200)), 10000);
  const by = new Set(calls.filter((c) => c.phase === 'response' && c.kind.startsWith('stream-')).map((c) => c.by));
  assert.equal(by.size, 1, `the page's streams are on replicas ${[...by]}`);
  victim = [...by][0];
  assert.ok(/^\d+$/.test(victim || ''), `X-Served-By ${victim} is not a replica number`);
  // The interval the page learns from its streams' heartbeat events.
  heartbeatMs = await page.evaluate(() => new Promise((resolve, reject) => {
    const es = new EventSource('/api/stream-alerts');
    const t = setTimeout(() => { es.close(); reject(new Error('no heartbeat event')); }, 10000);
    es.addEventListener('heartbeat', (ev) => {
      clearTimeout(t);
      es.close();
      resolve(JSON.parse(ev.data).interval_ms);
    });
  }));
  assert.ok(heartbeatMs > 0, `heartbeat interval ${heartbeatMs}`);
  console.log(`     streams on replica ${victim}; heartbeat every ${heartbeatMs} ms`);
});

let tBack = 0;
await step('with its replica hung, the page reconnects to another one and prices move again', async () => {
  assert.ok(victim !== null, 'no replica found');
  const pid = Number(readFileSync(join(state, 'run', `webapp-${victim}.pid`), 'utf8').trim());
  await until('prices moving', async () => (await page.evaluate(() => window.__priceChanges.length)) > 0, 10000);
  process.kill(pid, 'SIGSTOP');
  stopped = pid;
  const tStop = Date.now();
  console.log(`     webapp-${victim} (pid ${pid}) stopped`);
  // Noticed after 2 x heartbeat; then the API call that lets nginx leave the
  // replica out, and the new stream's first event.
  const budget = 2 * heartbeatMs + TIMER_SLACK_MS + API_FAILOVER_MS + FIRST_EVENT_MS;
  const back = (k) => calls.find((c) => c.kind === k && c.phase === 'response' && c.t > tStop
    && c.status === 200 && c.by !== victim);
  await until('both streams back on another replica', () => back('stream-prices') && back('stream-alerts'),
    budget + 10000);
  const tStream = back('stream-prices').t;
  tBack = await until('prices moving again', async () => (await page.evaluate(
    (t) => window.__priceChanges.find((x) => x > t), tStream)), 10000);
  const lastLife = await page.evaluate((t) => Math.max(0, ...window.__priceChanges.filter((x) => x <= t)), tStop);
  const probe = calls.find((c) => c.kind === 'get-alerts' && c.phase === 'request' && c.t > tStop);
  console.log(`     last price before the stop: ${tStop - lastLife} ms before it; the page noticed the `
    + `silence after ${probe ? probe.t - lastLife : '?'} ms (2 x heartbeat = ${2 * heartbeatMs}); `
    + `streams on replica ${back('stream-prices').by} after ${tStream - tStop} ms, prices moving `
    + `${tBack - tStop} ms after the stop (bound ${budget} ms)`);
  assert.ok(probe, 'the page made no call after going silent');
  assert.ok(probe.t - lastLife <= 2 * heartbeatMs + TIMER_SLACK_MS,
    `the page noticed the silence after ${probe.t - lastLife} ms, not within 2 x ${heartbeatMs} ms`);
  // Each stream notices on its own clock (the price stream by the last
  // tick, at most 2 x heartbeat after the stop): bound the whole from the stop.
  assert.ok(tBack - tStop <= budget, `prices moved again ${tBack - tStop} ms after the stop, over `
    + `2 x heartbeat + ${budget - 2 * heartbeatMs} ms`);
  await page.waitForFunction(() => !/disconnected/i.test(document.querySelector('#status')?.textContent || ''),
    null, { timeout: 5000 });
});

await step('an alert set now reaches the page over the new alert stream', async () => {
  const ticker = await page.locator('tr[data-ticker][data-stale="false"]:has(.price[data-price])').first()
    .getAttribute('data-ticker');
  const row = page.locator(`tr[data-ticker="${ticker}"]`);
  const p = Number((await row.locator('.price').innerText()).replace(/[^0-9.]/g, ''));
  assert.ok(p > 0, `no price for ${ticker}`);
  await row.locator('input.threshold').fill((p * 0.98).toFixed(p >= 100 ? 2 : 4));
  await row.locator('select.type').selectOption('above');
  await row.locator('button.set-alert').click();
  const banner = page.locator('[data-testid=banner]').filter({ hasText: ticker });
  await banner.first().waitFor({ state: 'visible', timeout: 10000 });
  await page.screenshot({ path: join(artifacts, 'hung-replica-recovered.png'), fullPage: true });
});

await step('resumed, the replica gets its user back', async () => {
  assert.ok(stopped !== null, 'no replica was stopped');
  resume();
  await until('requests served by the resumed replica', async () => (await page.evaluate(
    async () => (await fetch('/api/get-alerts')).headers.get('x-served-by'))) === victim, 30000, 500);
});

resume();
await browser.close();
finish();
