// What the browser tests share: the stack under test (E2E_BASE_URL, set by
// ./stack test), where screenshots go, named steps that record their result,
// Debian's chromium launched the one way this machine allows (headless, no
// sandbox as root, no background networking: the network is closed), and
// the exit status (1 when a step failed; 77, skipped, without a stack).
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const base = process.env.E2E_BASE_URL;
export const artifacts = process.env.E2E_ARTIFACTS || '/tmp/stock-alerts-artifacts';

/* Exits 77 (skipped) unless every named environment variable is set. */
export function requireEnv(...names) {
  const missing = ['E2E_BASE_URL', ...names].filter((n) => !process.env[n]);
  if (missing.length) {
    console.log(`${missing.join(' / ')} not set: skipped`);
    process.exit(77);
  }
  mkdirSync(artifacts, { recursive: true });
}

const results = [];

/* Runs one named check; a failure is recorded and printed, the test goes on. */
export async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, 'ok']);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, 'FAILED']);
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/* Prints the count and exits: 1 when a step failed. */
export function finish() {
  const failed = results.filter(([, r]) => r !== 'ok').length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

/* Runs axe-core (from npm) in the page and returns its serious and critical
 * violations as "rule: target" lines. The page's CSP allows no inline
 * script: the source goes in through the DevTools protocol. */
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export async function axeSerious(page) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}`));
}
