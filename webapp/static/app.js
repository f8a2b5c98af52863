/* Stock Alerts dashboard: live prices over SSE, alerts CRUD, alert events
 * with banner, beep and notification. No dependencies, works offline. */
'use strict';

(function () {
  const SPARK_POINTS = 60;
  const BANNER_MS = 10000;
  const RECENT_MAX = 10;
  const RECONNECT_MIN_MS = 1000;
  const RECONNECT_MAX_MS = 15000;
  const HEARTBEAT_MS = 15000;    // the server's default, until its first heartbeat says

  const rows = new Map();        // ticker -> {tr, priceEl, changeEl, canvas, open, last, points}
  const seenAlerts = new Set();  // alert_id of triggered alerts already shown
  const el = (id) => document.getElementById(id);
  let audioCtx = null;
  let bannerTimer = null;
  let messageTimer = null;
  let simulated = new Set();

  /* ---------- formatting ---------- */
  function fmtPrice(p) {
    if (typeof p !== 'number' || !isFinite(p)) return '–';
    // As many digits as the producer quotes (see producer/feed.c).
    const digits = p >= 100 ? 2 : p >= 10 ? 3 : p >= 1 ? 4 : 6;
    return '$' + p.toLocaleString(undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  function fmtTime(ts) {
    const d = new Date(ts * 1000);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }

  /* ---------- messages ---------- */
  function showMessage(text, kind) {
    const m = el('message');
    m.textContent = text;
    m.className = 'message ' + (kind || 'error');
    m.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { m.hidden = true; }, kind === 'ok' ? 3000 : 8000);
  }

  async function errorText(resp) {
    try {
      const body = await resp.json();
      if (body && typeof body.error === 'string') return body.error;
    } catch (e) { /* not JSON */ }
    if (resp.status === 413) return 'Request too large';
    if (resp.status === 429) return 'Too many requests, slow down a little';
    if (resp.status >= 500) return 'The server is unavailable, please retry (' + resp.status + ')';
    return 'Request refused (' + resp.status + ')';
  }

  /* ---------- price table ---------- */
  function ensureRow(t) {
    let r = rows.get(t.ticker);
    if (r) return r;
    const tr = el('row-template').content.firstElementChild.cloneNode(true);
    tr.dataset.ticker = t.ticker;
    tr.dataset.testid = 'row-' + t.ticker;
    tr.querySelector('.ticker').textContent = t.ticker;
    tr.querySelector('.company').textContent = t.company || '';
    tr.querySelector('.alert-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      setAlert(t.ticker, tr);
    });
    r = {
      tr: tr,
      priceEl: tr.querySelector('.price'),
      changeEl: tr.querySelector('.change'),
      canvas: tr.querySelector('.spark'),
      open: null, last: null, points: [],
    };
    rows.set(t.ticker, r);
    el('prices-body').appendChild(tr);
    el('prices-empty').hidden = true;
    return r;
  }

  function drawSpark(r) {
    const c = r.canvas;
    const ctx = c.getContext && c.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const w = 120, h = 32;
    if (c.width !== w * dpr) { c.width = w * dpr; c.height = h * dpr; }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pts = r.points;
    if (pts.length < 2) return;
    let lo = Math.min(...pts), hi = Math.max(...pts);
    if (hi === lo) { hi += 1; lo -= 1; }
    ctx.beginPath();
    pts.forEach((p, i) => {
      const x = (i / (pts.length - 1)) * (w - 2) + 1;
      const y = h - 2 - ((p - lo) / (hi - lo)) * (h - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = pts[pts.length - 1] >= pts[0] ? '#2ea043' : '#f85149';
    ctx.stroke();
  }

  function updatePrice(t) {
    if (!t || typeof t.ticker !== 'string') return;
    const r = ensureRow(t);
    if (t.company) r.tr.querySelector('.company').textContent = t.company;
    if (typeof t.price !== 'number') return;
    if (r.last !== null && t.price !== r.last) {
      const cls = t.price > r.last ? 'flash-up' : 'flash-down';
      r.priceEl.classList.remove('flash-up', 'flash-down');
      void r.priceEl.offsetWidth; // restart the flash
      r.priceEl.classList.add(cls);
      clearTimeout(r.flashTimer);
      r.flashTimer = setTimeout(() => r.priceEl.classList.remove(cls), 700);
    }
    r.last = t.price;
    if (r.open === null) r.open = t.price;
    r.priceEl.textContent = fmtPrice(t.price);
    r.priceEl.dataset.price = String(t.price);
    const pct = ((t.price - r.open) / r.open) * 100;
    r.changeEl.textContent = (pct >= 0 ? '+' : '') + pct.toFixed(2) + '%';
    r.changeEl.classList.toggle('up', pct > 0);
    r.changeEl.classList.toggle('down', pct < 0);
    r.points.push(t.price);
    if (r.points.length > SPARK_POINTS) r.points.shift();
    drawSpark(r);
    if (t.source === 'sim') simulated.add(t.ticker); else simulated.delete(t.ticker);
    r.tr.classList.toggle('simulated', t.source === 'sim');
    el('sim-badge').hidden = simulated.size === 0;
  }

  async function loadTickers() {
    try {
      const resp = await fetch('/api/tickers');
      if (!resp.ok) return;
      const body = await resp.json();
      // Rows appear with their first price: an asset nobody publishes
      // would otherwise sit there empty.
      (body.tickers || []).forEach((t) => { if (typeof t.price === 'number') updatePrice(t); });
    } catch (e) { /* the stream fills the table anyway */ }
  }

  /* ---------- streams with reconnect ---------- */
  function setStatus(ok) {
    const s = el('status');
    s.textContent = ok ? 'Connected' : 'Disconnected';
    s.classList.toggle('connected', ok);
    s.classList.toggle('disconnected', !ok);
  }

  /* An EventSource that is re-created when the browser gives up on it (a
   * non-200 answer closes it for good), or when it went silent: the server
   * sends a heartbeat event (with its interval) first and then on idle
   * streams, so nothing for twice that interval is a hung replica behind an
   * open connection, which EventSource never notices. urlFn builds the URL
   * each time (the alert stream resumes from its last id). */
  function openStream(urlFn, handlers) {
    let es = null;
    let delay = RECONNECT_MIN_MS;
    let timer = null;
    let watchdog = null;
    let silentMs = 2 * HEARTBEAT_MS;
    function alive() {
      clearTimeout(watchdog);
      watchdog = setTimeout(stale, silentMs);
    }
    function stale() {
      es.close();
      if (handlers.error) handlers.error();
      // The list may have changed meanwhile; and this API call, sticky to
      // the same replica, lets nginx find it hung (short API timeout) and
      // leave it out, so the new stream goes to another replica.
      loadAlerts().finally(connect);
    }
    function connect() {
      timer = null;
      es = new EventSource(urlFn());
      alive();
      es.onopen = () => {
        alive();
        delay = RECONNECT_MIN_MS;
        if (handlers.open) handlers.open();
      };
      es.onmessage = (ev) => { alive(); handlers.message(ev); };
      es.addEventListener('heartbeat', (ev) => {
        try {
          const ms = JSON.parse(ev.data).interval_ms;
          if (Number.isFinite(ms) && ms > 0) silentMs = 2 * ms;
        } catch (e) { /* keep the interval we had */ }
        alive();
      });
      es.onerror = () => {
        if (handlers.error) handlers.error();
        if (es.readyState === EventSource.CLOSED && timer === null) {
          clearTimeout(watchdog);
          es.close();
          timer = setTimeout(connect, delay);
          delay = Math.min(delay * 2, RECONNECT_MAX_MS);
        }
      };
    }
    connect();
  }

  function startPriceStream() {
    openStream(() => '/api/stream-prices', {
      open: () => setStatus(true),
      error: () => setStatus(false),
      message: (ev) => {
        try { updatePrice(JSON.parse(ev.data)); } catch (e) { /* skip a bad event */ }
      },
    });
  }

  /* Alert ids are positions in the user's history, "<ms>-<n>" (a plain
   * number from the version before reads as "0-<n>"). The page resumes from
   * the furthest one it has seen, never going back. */
  function posParts(id) {
    const m = /^(?:(\d+)-)?(\d+)$/.exec(String(id));
    return m ? [(m[1] || '0').replace(/^0+(?=\d)/, ''), m[2].replace(/^0+(?=\d)/, '')] : null;
  }
  function numAfter(a, b) { return a.length !== b.length ? a.length > b.length : a > b; }
  function posAfter(a, b) {
    const x = posParts(a), y = posParts(b);
    if (!x) return false;
    if (!y) return true;
    return x[0] !== y[0] ? numAfter(x[0], y[0]) : numAfter(x[1], y[1]);
  }

  let lastAlertId = null;
  function startAlertStream() {
    openStream(() => '/api/stream-alerts' +
      (lastAlertId !== null ? '?last_event_id=' + encodeURIComponent(lastAlertId) : ''), {
      message: (ev) => {
        if (ev.lastEventId && posAfter(ev.lastEventId, lastAlertId)) lastAlertId = ev.lastEventId;
        let a;
        try { a = JSON.parse(ev.data); } catch (e) { return; }
        onAlert(a);
      },
    });
  }

  /* ---------- triggered alerts ---------- */
  function beep() {
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      if (!audioCtx) audioCtx = new AC();
      if (audioCtx.state === 'suspended') audioCtx.resume();
      const osc = audioCtx.createOscillator();
      const gain = audioCtx.createGain();
      osc.type = 'sine';
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audioCtx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audioCtx.currentTime + 0.3);
      osc.connect(gain).connect(audioCtx.destination);
      osc.start();
      osc.stop(audioCtx.currentTime + 0.3);
    } catch (e) { /* no audio: the banner is enough */ }
  }

  function showBanner(text) {
    const b = el('banner');
    b.textContent = 'Alert triggered: ' + text;
    b.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { b.hidden = true; }, BANNER_MS);
  }

  function notify(text) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try { new Notification('Stock alert', {body: text}); } catch (e) { /* mobile: no constructor */ }
  }

  function alertText(a) {
    if (a.message) return a.message;
    return a.ticker + ' is ' + a.type + ' ' + fmtPrice(a.threshold) + ' (Current: ' + fmtPrice(a.price) + ')';
  }

  function addRecent(a, top) {
    const li = document.createElement('li');
    li.dataset.alertId = a.alert_id;
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = alertText(a);
    const when = document.createElement('span');
    when.className = 'when';
    when.textContent = fmtTime(a.timestamp);
    li.append(what, when);
    const list = el('recent-list');
    if (top) list.prepend(li); else list.append(li);
    while (list.children.length > RECENT_MAX) list.lastElementChild.remove();
    el('recent-empty').hidden = list.children.length > 0;
  }

  function onAlert(a) {
    if (!a || typeof a.alert_id !== 'string' || seenAlerts.has(a.alert_id)) return;
    seenAlerts.add(a.alert_id);
    const text = alertText(a);
    showBanner(text);
    beep();
    notify(text);
    addRecent(a, true);
    loadAlerts();
  }

  async function loadHistory() {
    try {
      const resp = await fetch('/api/alert-history');
      if (!resp.ok) return;
      const body = await resp.json();
      // The stream starts after the newest alert seen here ("0-0": the
      // start of an empty history), so one that fires before the stream is
      // open, or while it is down, is replayed.
      lastAlertId = (body.alerts || []).reduce(
        (m, a) => (posAfter(a.event_id, m) ? a.event_id : m), '0-0');
      (body.alerts || []).slice(0, RECENT_MAX).forEach((a) => {
        if (seenAlerts.has(a.alert_id)) return;
        seenAlerts.add(a.alert_id);
        addRecent(a, false);
      });
    } catch (e) { /* optional */ }
  }

  /* ---------- active alerts ---------- */
  function renderAlerts(alerts) {
    const list = el('alerts-list');
    list.replaceChildren();
    alerts.forEach((a) => {
      const li = document.createElement('li');
      li.dataset.alertId = a.alert_id;
      li.dataset.ticker = a.ticker;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = a.ticker + ' ' + a.type + ' ' + fmtPrice(a.threshold);
      const del = document.createElement('button');
      del.className = 'delete-alert';
      del.type = 'button';
      del.textContent = 'Delete';
      del.addEventListener('click', () => deleteAlert(a.alert_id, del));
      li.append(what, del);
      list.append(li);
    });
    el('alert-count').textContent = String(alerts.length);
    el('alerts-empty').hidden = alerts.length > 0;
  }

  let loadSeq = 0;
  async function loadAlerts() {
    const mine = ++loadSeq;
    try {
      const resp = await fetch('/api/get-alerts');
      if (!resp.ok) { showMessage('Could not load alerts: ' + await errorText(resp)); return; }
      const body = await resp.json();
      if (mine === loadSeq) renderAlerts(body.alerts || []);
    } catch (e) {
      showMessage('Could not load alerts: the server is unreachable');
    }
  }

  function askNotifications() {
    if ('Notification' in window && Notification.permission === 'default') {
      try { Notification.requestPermission(); } catch (e) { /* old API */ }
    }
    if (!audioCtx) {
      try {
        const AC = window.AudioContext || window.webkitAudioContext;
        if (AC) audioCtx = new AC();
      } catch (e) { /* no audio */ }
    }
  }

  async function setAlert(ticker, tr) {
    askNotifications();
    const input = tr.querySelector('.threshold');
    const type = tr.querySelector('.type').value;
    const threshold = Number(input.value);
    if (input.value.trim() === '' || !isFinite(threshold) || threshold <= 0) {
      showMessage('Enter a threshold greater than 0 for ' + ticker);
      input.focus();
      return;
    }
    const btn = tr.querySelector('.set-alert');
    btn.disabled = true;
    try {
      const resp = await fetch('/api/set-alert', {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({ticker: ticker, threshold: threshold, type: type}),
      });
      if (!resp.ok) {
        showMessage('Alert not set: ' + await errorText(resp));
        return;
      }
      const body = await resp.json();
      showMessage(body.message || ('Alert set for ' + ticker), 'ok');
      input.value = '';
      loadAlerts();
    } catch (e) {
      showMessage('Alert not set: the server is unreachable');
    } finally {
      btn.disabled = false;
    }
  }

  async function deleteAlert(id, btn) {
    btn.disabled = true;
    try {
      const resp = await fetch('/api/delete-alert/' + encodeURIComponent(id), {method: 'DELETE'});
      if (!resp.ok) showMessage('Alert not deleted: ' + await errorText(resp));
    } catch (e) {
      showMessage('Alert not deleted: the server is unreachable');
    } finally {
      loadAlerts();
    }
  }

  /* ---------- start ---------- */
  function start() {
    setStatus(false);
    el('status').textContent = 'Connecting…';
    loadTickers().then(startPriceStream);
    loadAlerts();
    loadHistory().then(startAlertStream);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
