// Browser test of the CSRF rules: Debian's chromium (headless, driven by
// playwright-core) against the running stack through nginx (E2E_BASE_URL).
// A victim opens the dashboard (and gets its cookie), then visits pages
// served by a second origin that try what a page may do to another origin:
// HTML forms (text/plain, urlencoded, multipart) into frames and as a
// top-level navigation, fetch() with mode no-cors, fetch() with
// application/json (needs a preflight), DELETE (needs one too) and
// sendBeacon. The second origin is first the same site (the same host on
// another port: the SameSite=Lax cookie IS sent, so only the server's origin
// checks stand in the way), then another site (localhost vs 127.0.0.1).
// Proves that every such request the browser sent was refused (403 or 415),
// that none needing a preflight was sent, that the victim's alerts are
// unchanged, and that the dashboard's own origin still sets and deletes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { base, finish, launch, requireEnv, step } from './lib.mjs';

requireEnv();
const victim = new URL(base).origin;
const victimHost = new URL(base).hostname;
// The cookie's site is the host without the port: another port is the same
// site; localhost and 127.0.0.1 are different sites.
const otherSiteHost = victimHost === 'localhost' ? '127.0.0.1' : 'localhost';
const WRITE_PATH = /\/api\/(set-alert|delete-alert\/)/;


// The attacker's pages. attack.html fires everything into frames and fetch
// calls and reports how the calls ended; top.html posts a form as a
// top-level navigation.
function attackPage(target, victimId) {
  const json = JSON.stringify({ ticker: 'AAPL', threshold: 1, type: 'above' });
  // text/plain form: name + "=" + value, shaped so the body is valid JSON
  const plainName = '{"ticker":"AAPL","threshold":1,"type":"above","x":"';
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html><meta charset="utf-8"><title>attacker</title>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="plain" method="POST" enctype="text/plain" target="f1" action="${target}/api/set-alert">
  <input name="${esc(plainName)}" value='"}'></form>
<form id="urlenc" method="POST" target="f2" action="${target}/api/set-alert">
  <input name="ticker" value="AAPL"><input name="threshold" value="1"><input name="type" value="above"></form>
<form id="multi" method="POST" enctype="multipart/form-data" target="f3" action="${target}/api/set-alert">
  <input name="ticker" value="AAPL"><input name="threshold" value="1"><input name="type" value="above"></form>
<script>
window.outcomes = {};
const settle = (name, p) => p.then((r) => { outcomes[name] = 'answered ' + r.type + ' ' + r.status; },
                                   (e) => { outcomes[name] = 'rejected ' + e.name; });
let loads = 0;
for (const f of document.querySelectorAll('iframe')) f.addEventListener('load', () => { loads++; });
window.framesLoaded = () => loads;
const body = ${JSON.stringify(json)};
window.calls = Promise.all([
  settle('fetch no-cors text/plain', fetch('${target}/api/set-alert', {method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: {'Content-Type': 'text/plain'}, body})),
  settle('fetch cors application/json', fetch('${target}/api/set-alert', {method: 'POST', mode: 'cors',
    credentials: 'include', headers: {'Content-Type': 'application/json'}, body})),
  settle('fetch cors DELETE', fetch('${target}/api/delete-alert/${victimId}', {method: 'DELETE',
    mode: 'cors', credentials: 'include'})),
  settle('fetch no-cors DELETE', fetch('${target}/api/delete-alert/${victimId}', {method: 'DELETE',
    mode: 'no-cors', credentials: 'include'})),
]);
window.beacon = navigator.sendBeacon('${target}/api/set-alert', new Blob([body], {type: 'text/plain'}));
for (const id of ['plain', 'urlenc', 'multi']) document.getElementById(id).submit();
</script>`;
}

function topPage(target) {
  return `<!doctype html><meta charset="utf-8"><title>attacker top</title>
<form id="f" method="POST" enctype="text/plain" action="${target}/api/set-alert">
  <input name='{"ticker":"AAPL","threshold":2,"type":"above","x":"' value='"}'></form>
<script>document.getElementById('f').submit();</script>`;
}

let victimId = '';
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const page = url.pathname === '/attack.html' ? attackPage(victim, victimId)
    : url.pathname === '/top.html' ? topPage(victim) : null;
  res.writeHead(page ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page || 'not found');
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const port = server.address().port;

const browser = await launch();
const context = await browser.newContext();

const dash = await context.newPage();

// Every request to the write endpoints made by a page other than the
// dashboard, with what the server answered ('failed': no answer, e.g. a
// request whose CORS preflight failed and that was therefore never sent).
const sent = [];
context.on('request', async (r) => {
  if (!WRITE_PATH.test(r.url())) return;
  let page = null;
  try {
    page = r.frame().page();
  } catch (e) { /* not from a frame: counted as the attacker's */ }
  if (page === dash) return;
  // Counted at once, with the headers known before sending; the raw headers
  // (Cookie among them) replace them when chromium reports them. For a
  // top-level navigation to another site chromium may never report them
  // (the navigation moves to a new renderer): after 3 s the entry keeps
  // headersKnown = false and takes no part in the cookie checks.
  const entry = { method: r.method(), url: r.url(), headers: r.headers(), headersKnown: false, status: null };
  sent.push(entry);
  const raw = await Promise.race([r.allHeaders().catch(() => null),
    new Promise((ok) => setTimeout(ok, 3000, null))]);
  if (raw) { entry.headers = raw; entry.headersKnown = true; }
  const resp = await r.response().catch(() => null);
  entry.status = resp ? resp.status() : 'failed';
});

dash.on('pageerror', (e) => console.log(`page error: ${e.message}`));
await dash.goto(base, { waitUntil: 'domcontentloaded' });

// The dashboard's own calls, as app.js makes them.
const api = (method, path, body) => dash.evaluate(async ([m, p, b]) => {
  const init = { method: m };
  if (b !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(b);
  }
  const r = await fetch(p, init);
  return { status: r.status, body: await r.json() };
}, [method, path, body]);
const listIds = async () => (await api('GET', '/api/get-alerts')).body.alerts.map((a) => a.alert_id).sort();

await step('the dashboard origin sets and deletes alerts', async () => {
  const kept = await api('POST', '/api/set-alert', { ticker: 'AAPL', threshold: 999999999, type: 'above' });
  assert.equal(kept.status, 200, JSON.stringify(kept.body));
  victimId = kept.body.alert_id;
  const tmp = await api('POST', '/api/set-alert', { ticker: 'MSFT', threshold: 999999998, type: 'above' });
  assert.equal(tmp.status, 200, JSON.stringify(tmp.body));
  const del = await api('DELETE', `/api/delete-alert/${tmp.body.alert_id}`);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  assert.deepEqual(await listIds(), [victimId]);
});

async function attackFrom(origin, cookieSent) {
  const before = sent.length;
  const page = await context.newPage();
  await page.goto(`${origin}/attack.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.framesLoaded() >= 3, null, { timeout: 10000 });
  const outcomes = await page.evaluate(async () => { await window.calls; return window.outcomes; });
  assert.equal(await page.evaluate(() => window.beacon), true, 'sendBeacon was not queued');
  // The same, as a top-level navigation.
  const top = await context.newPage();
  const nav = top.waitForNavigation({ url: `${victim}/api/set-alert`, timeout: 10000 });
  await top.goto(`${origin}/top.html`);
  const navResp = await nav;
  // forms x3 + no-cors POST + beacon + top-level form: 6 requests sent
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline &&
         (sent.length - before < 6 || sent.slice(before).some((s) => s.status === null))) {
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const mine = sent.slice(before);
  const summary = mine.map((s) => `${s.method} ${new URL(s.url).pathname} ${s.headers['content-type'] || '-'} `
    + `[${s.headers['sec-fetch-site']}${s.headers.cookie ? ', cookie' : ''}${s.headersKnown ? '' : ', raw headers unknown'}] -> ${s.status}`);
  console.log(`    from ${origin}:\n      ${summary.join('\n      ')}`);
  console.log(`      fetch: ${JSON.stringify(outcomes)}`);
  const answered = mine.filter((s) => s.status !== 'failed');
  assert.ok(answered.length >= 6, `only ${answered.length} requests reached the server`);
  for (const s of answered) {
    assert.ok(s.status === 403 || s.status === 415, `${s.method} ${s.url} answered ${s.status}`);
  }
  // What needs a preflight was never answered, so never sent.
  for (const s of mine.filter((x) => x.status === 'failed')) {
    assert.ok(s.method === 'DELETE' || /application\/json/i.test(s.headers['content-type'] || ''),
      `a simple request got no answer: ${s.method} ${s.url}`);
  }
  assert.ok(!answered.some((s) => s.method !== 'POST' || /application\/json/i.test(s.headers['content-type'] || '')),
    'a request needing a preflight was answered');
  // Same site: the SameSite=Lax cookie rode along; another site: it did not.
  const known = answered.filter((s) => s.headersKnown);
  assert.ok(known.length >= 4, `chromium reported the raw headers of only ${known.length} requests`);
  const withCookie = known.filter((s) => /user_id=/.test(s.headers.cookie || '')).length;
  if (cookieSent) assert.ok(withCookie > 0, 'the victim cookie was never attached');
  else assert.equal(withCookie, 0, 'the victim cookie was sent cross-site');
  assert.ok(navResp && [403, 415].includes(navResp.status()), `top-level form POST answered ${navResp && navResp.status()}`);
  assert.equal(outcomes['fetch cors application/json'], 'rejected TypeError');
  assert.equal(outcomes['fetch cors DELETE'], 'rejected TypeError');
  assert.equal(outcomes['fetch no-cors DELETE'], 'rejected TypeError');
  assert.deepEqual(await listIds(), [victimId], 'the victim\'s alerts changed');
  await page.close();
  await top.close();
}

await step('a page on the same site (another port, cookie attached) changes nothing', async () => {
  await attackFrom(`http://${victimHost}:${port}`, true);
});

await step('a page on another site changes nothing', async () => {
  await attackFrom(`http://${otherSiteHost}:${port}`, false);
});

await step('the dashboard origin still sets and deletes alerts', async () => {
  const r = await api('POST', '/api/set-alert', { ticker: 'AAPL', threshold: 999999997, type: 'above' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(await listIds(), [victimId, r.body.alert_id].sort());
  for (const id of [r.body.alert_id, victimId]) {
    const d = await api('DELETE', `/api/delete-alert/${id}`);
    assert.equal(d.status, 200, JSON.stringify(d.body));
  }
  assert.deepEqual(await listIds(), []);
});

await browser.close();
server.close();
finish();
