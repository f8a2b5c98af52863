// Browser test of e-mail (issue 18): Debian's chromium (headless, driven by
// playwright-core) against the running stack through nginx (E2E_BASE_URL),
// with the tests' SMTP server (aiosmtpd, tests/lib/smtp_sink.py, started
// here from TEST_SMTP_PYTHON on TEST_SMTP_PORT) receiving what the stack's
// notifier mails. Proves:
//  1. the settings area saves an address, says it waits for confirmation,
//     and shows it confirmed once the mailed link was followed (the page
//     looks again when it gets the focus back);
//  2. "also by e-mail" in a row's form sets an alert with the channels
//     browser and email, shown as such in the active list; without it the
//     alert has the browser channel only;
//  3. a bad address is refused with the server's message, in a toast;
//  4. axe-core finds no serious or critical violation with the area shown.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { axeSerious, base, finish, launch, requireEnv, step } from './lib.mjs';

requireEnv('TEST_SMTP_PYTHON', 'TEST_SMTP_PORT');
const here = dirname(fileURLToPath(import.meta.url));
const mailDir = mkdtempSync(join(tmpdir(), 'smtp-sink-'));
const sink = spawn(process.env.TEST_SMTP_PYTHON,
  [join(here, '..', 'lib', 'smtp_sink.py'), '127.0.0.1', process.env.TEST_SMTP_PORT, mailDir],
  { stdio: 'ignore' });
const LIVE = 'tr[data-ticker][data-stale="false"]:has(.price[data-price])';
const addr = `browser-${Date.now().toString(36)}@example.test`;

/* The confirmation link mailed to `to`, waiting for it. */
async function mailedLink(to) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    for (const f of readdirSync(mailDir).filter((n) => n.endsWith('.json'))) {
      const env = JSON.parse(readFileSync(join(mailDir, f), 'utf8'));
      if (!env.rcpt_tos.includes(to)) continue;
      const text = readFileSync(join(mailDir, f.replace(/\.json$/, '.eml')), 'utf8');
      const m = text.match(/(http:\/\/\S+\/api\/confirm-email\?token=[A-Za-z0-9_.-]+)/);
      if (m) return m[1];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no confirmation mail to ${to}`);
}

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
await page.goto(base, { waitUntil: 'domcontentloaded' });
await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 5, LIVE, { timeout: 20000 });

await step('a bad address is refused with the server\'s message', async () => {
  await page.getByTestId('email-input').fill('not an address');
  await page.getByTestId('email-save').click();
  await page.getByTestId('toast').filter({ hasText: 'Invalid email' }).first().waitFor({ timeout: 5000 });
});

await step('saving an address waits for its confirmation; the link confirms it', async () => {
  const state = page.getByTestId('email-state');
  assert.match(await state.textContent(), /No address/);
  await page.getByTestId('email-input').fill(addr);
  await page.getByTestId('email-save').click();
  await page.getByTestId('toast').filter({ hasText: 'Confirmation mail sent' }).first().waitFor({ timeout: 5000 });
  assert.match(await state.textContent(), /Check .* for the confirmation link/);
  const link = await mailedLink(addr);
  const other = await context.newPage();
  const resp = await other.goto(link);
  assert.equal(resp.status(), 200);
  assert.match(await other.textContent('body'), /confirmed/);
  await other.close();
  await page.bringToFront();
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await page.waitForFunction(() => /is confirmed/.test(document.querySelector('[data-testid=email-state]').textContent), null, { timeout: 5000 });
  assert.ok((await state.textContent()).includes(addr));
});

await step('"also by e-mail" sets the email channel; without it, the browser only', async () => {
  const row = page.locator(LIVE).first();
  const ticker = await row.getAttribute('data-ticker');
  const price = Number(await row.locator('.price').getAttribute('data-price'));
  await row.locator('.threshold').fill(String(price * 3));
  await row.getByTestId('by-email').check();
  await row.locator('.set-alert').click();
  await page.getByTestId('toast').filter({ hasText: 'also by e-mail' }).first().waitFor({ timeout: 5000 });
  await row.getByTestId('by-email').uncheck();
  await row.locator('.threshold').fill(String(price * 4));
  await row.locator('.set-alert').click();
  await page.waitForFunction(() => document.querySelectorAll('#alerts-list li').length >= 2, null, { timeout: 5000 });
  const alerts = await page.evaluate(async () => (await (await fetch('/api/get-alerts')).json()).alerts);
  const mine = alerts.filter((a) => a.ticker === ticker).map((a) => a.channels.join('+')).sort();
  assert.deepEqual(mine, ['browser', 'browser+email']);
  assert.equal(await page.locator('#alerts-list li [data-testid=by-email]').count(), 1);
});

await step('axe: no serious or critical violation with the e-mail area', async () => {
  assert.deepEqual(await axeSerious(page), []);
});

await browser.close();
sink.kill('SIGTERM');
rmSync(mailDir, { recursive: true, force: true });
finish();
