/* Stock Alerts dashboard: the asset universe with live prices over SSE,
 * alerts CRUD, fired alerts as banners that stay until dismissed (title
 * count, optional sound and notification), messages as toasts. No
 * dependencies, works offline. Numbers: docs/number-format.md (fmtNum). */
'use strict';

(function () {
  const SPARK_POINTS = 60;
  const RECENT_PAGE = 10;         // triggered alerts shown, and added per "Show older"
  const RECONNECT_MIN_MS = 1000;
  const RECONNECT_MAX_MS = 15000;
  const HEARTBEAT_MS = 15000;     // the server's default, until its first heartbeat says
  const STALE_INTERVALS = 3;      // no tick for this many intervals: stale
  const UNIVERSE_REFRESH_MS = 60000;
  const UNIVERSE_RETRY_MS = 10000; // at most this often on a tick of an unknown ticker
  const FAR_FACTOR = 10;          // a threshold this many times away asks first
  const TOAST_MS = {ok: 4000, error: 10000};
  const TOASTS_MAX = 4;
  const SOUND_KEY = 'stock-alerts.sound';
  const TITLE = document.title;

  const rows = new Map();         // ticker -> row state (ensureRow)
  const seenAlerts = new Set();   // alertKey of triggered alerts already shown
  const history = [];             // triggered alerts, newest first
  let historyShown = RECENT_PAGE;
  const el = (id) => document.getElementById(id);
  let audioCtx = null;
  let clockOffset = null;         // this browser's clock minus the producers' (ms)
  let universeAt = 0;
  let universeTimer = null;
  let askedNotify = false;
  let refocusAlerts = false;      // a Delete had the focus: keep it in the panel

  /* ---------- the one number format (docs/number-format.md) ---------- */
  /* x with d decimals, thousands separated by ',', the point '.', whatever
   * the locale: what claim.lua's money() writes into the alert's message.
   * Out of every bound (never from the API): exponent form, no digit wall. */
  function money(x, d) {
    if (typeof x !== 'number' || !isFinite(x)) return '–';
    if (Math.abs(x) >= 1e15) return x.toExponential(2);
    const s = x.toFixed(d);
    const m = /^(-?)(\d+)(.*)$/.exec(s);
    if (!m) return s;
    return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + m[3];
  }
  /* A threshold as typed: the asset's decimals, or as many more (up to 8)
   * as it takes to show its value (claim.lua's typed()). */
  function typed(x, d) {
    if (typeof x !== 'number' || !isFinite(x)) return '–';
    for (let k = d; k <= 8; k++) if (Number(x.toFixed(k)) === x) return money(x, k);
    return money(x, 8);
  }
  function decimalsOf(ticker) {
    const r = rows.get(ticker);
    return r && Number.isInteger(r.decimals) ? r.decimals : 2;  // a tick without them: 2
  }
  /* fmtNum: a price of ticker ("$65,112.92"); typed: a threshold. */
  function fmtNum(x, ticker, isThreshold) {
    const d = decimalsOf(ticker);
    const s = isThreshold ? typed(x, d) : money(x, d);
    return s === '–' ? s : '$' + s;
  }
  window.stockAlertsFormat = {money: money, typed: typed};  // for the tests
  function fmtTime(ts) {
    const d = new Date(ts * 1000);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }
  function fmtAge(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' days';
  }
  const isPercent = (type) => type === 'percent_up' || type === 'percent_down';
  /* A percent alert's rolling window (window_s) in words: "5 min", "1 h", "1 day". */
  function windowName(w) {
    if (w % 86400 === 0) return w / 86400 + (w === 86400 ? ' day' : ' days');
    if (w % 3600 === 0) return w / 3600 + ' h';
    if (w % 60 === 0) return w / 60 + ' min';
    return w + ' s';
  }
  /* An alert as the panels show it: its condition (issue 18) in words. */
  function describe(a) {
    const level = fmtNum(a.threshold, a.ticker, true);
    if (a.type === 'crosses') {
      return a.ticker + ' crosses ' + level + (a.direction === 'down' ? ' (from above)' : ' (from below)');
    }
    if (isPercent(a.type) && a.window_s) {
      return a.ticker + ' ' + (a.type === 'percent_up' ? 'up ' : 'down ') + a.percent + '% from its ' +
        windowName(a.window_s) + (a.type === 'percent_up' ? ' low' : ' high');
    }
    if (isPercent(a.type)) {
      return a.ticker + ' ' + (a.type === 'percent_up' ? 'up ' : 'down ') + a.percent + '% from ' +
        fmtNum(a.reference_price, a.ticker) + ' (at ' + level + ')';
    }
    return a.ticker + ' ' + a.type + ' ' + level;
  }

  /* "every 5 min" for a cooldown in seconds. */
  function everyText(s) {
    if (s % 86400 === 0) return 'every ' + (s / 86400) + ' d';
    if (s % 3600 === 0) return 'every ' + (s / 3600) + ' h';
    if (s % 60 === 0) return 'every ' + (s / 60) + ' min';
    return 'every ' + s + ' s';
  }

  /* An active alert as listed: its condition, and for a repeating one how
   * often it may fire and how many times it did. */
  function describeActive(a) {
    if (a.repeat !== 'every' || !Number.isInteger(a.cooldown_s)) return describe(a);
    return describe(a) + ', repeats at most ' + everyText(a.cooldown_s) +
      (Number.isInteger(a.fired) && a.fired > 0 ? ' (fired ' + a.fired + '\u00d7)' : '');
  }

  /* What identifies one delivery of an alert: a repeating alert fires many
   * times under one alert_id, each firing numbered ("firing"). */
  function alertKey(a) {
    return Number.isInteger(a.firing) ? a.alert_id + '.' + a.firing : a.alert_id;
  }

  /* The user's note of an alert, as text (never HTML: it is the user's own
   * input), or null when it has none. */
  function noteEl(a) {
    if (typeof a.note !== 'string' || a.note === '') return null;
    const n = document.createElement('span');
    n.className = 'note';
    n.dataset.testid = 'note';
    n.textContent = a.note;
    return n;
  }

  function isExpired(a) {
    return a.status === 'expired';
  }

  /* ---------- toasts: messages that are always in view ---------- */
  function showMessage(text, kind) {
    kind = kind || 'error';
    const box = el('toasts');
    const t = document.createElement('div');
    t.className = 'toast ' + kind;
    t.dataset.testid = 'toast';
    if (kind === 'error') t.setAttribute('role', 'alert');
    const msg = document.createElement('span');
    msg.textContent = text;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'close';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss message: ' + text);
    close.addEventListener('click', () => t.remove());
    t.append(msg, close);
    box.append(t);
    while (box.children.length > TOASTS_MAX) box.firstElementChild.remove();
    setTimeout(() => t.remove(), TOAST_MS[kind] || TOAST_MS.error);
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

  /* ---------- the price table: the asset universe ---------- */
  function label(r) {
    return r.ticker + (r.company && r.company !== r.ticker ? ' (' + r.company + ')' : '');
  }

  function ensureRow(t) {
    let r = rows.get(t.ticker);
    if (r) return r;
    const tr = el('row-template').content.firstElementChild.cloneNode(true);
    tr.dataset.ticker = t.ticker;
    tr.dataset.testid = 'row-' + t.ticker;
    r = {
      ticker: t.ticker, company: '', tr: tr,
      priceEl: tr.querySelector('.price'),
      changeEl: tr.querySelector('.change'),
      ageEl: tr.querySelector('.age'),
      srcEl: tr.querySelector('.src'),
      canvas: tr.querySelector('.spark'),
      input: tr.querySelector('.threshold'),
      type: tr.querySelector('.type'),
      byEmail: tr.querySelector('.email'),
      window: tr.querySelector('.window'),
      repeat: tr.querySelector('.repeat'),
      note: tr.querySelector('.note-input'),
      button: tr.querySelector('.set-alert'),
      last: null, lastTs: null, points: [], decimals: null, previousClose: 0,
      intervalMs: 1000, source: '',
    };
    tr.querySelector('.ticker').textContent = t.ticker;
    tr.querySelector('.alert-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      setAlert(r);
    });
    r.type.addEventListener('change', () => nameInput(r));
    rows.set(t.ticker, r);
    // Alphabetical: the universe has no order of its own.
    const after = [...el('prices-body').children].find((x) => x.dataset.ticker > t.ticker);
    el('prices-body').insertBefore(tr, after || null);
    el('prices-empty').hidden = true;
    return r;
  }

  /* Names, source and interval: from /api/tickers and from every tick. */
  function describeRow(r, t) {
    if (t.company && t.company !== r.company) {
      r.company = t.company;
      r.tr.querySelector('.company').textContent = t.company === r.ticker ? '' : t.company;
    }
    if (Number.isInteger(t.interval_ms) && t.interval_ms > 0) r.intervalMs = t.interval_ms;
    if (Number.isInteger(t.decimals) && t.decimals >= 0 && t.decimals <= 8) r.decimals = t.decimals;
    if (typeof t.previous_close === 'number' && t.previous_close > 0) r.previousClose = t.previous_close;
    if (typeof t.source === 'string' && t.source !== r.source) {
      r.source = t.source;
      r.srcEl.textContent = t.source;
      r.srcEl.className = 'src src-' + t.source;
      r.srcEl.title = {yahoo: 'Prices from Yahoo Finance', sim: 'Simulated prices',
        replay: 'Prices replayed from a file'}[t.source] || '';
    }
    nameInput(r);
    r.type.setAttribute('aria-label', 'Condition of the alert for ' + r.ticker);
    r.window.setAttribute('aria-label', 'Percent counted from, for ' + r.ticker);
    r.repeat.setAttribute('aria-label', 'How often the alert for ' + r.ticker + ' may fire');
    r.note.setAttribute('aria-label', 'Note for the alert on ' + r.ticker + ' (shown when it fires)');
    r.button.setAttribute('aria-label', 'Set alert for ' + r.ticker);
  }

  /* The row's number input is a threshold, or a percent for % up / down. */
  function nameInput(r) {
    const pct = isPercent(r.type.value);
    r.window.hidden = !pct;
    r.input.placeholder = pct ? 'Percent' : 'Threshold';
    r.input.setAttribute('aria-label', (pct ? 'Alert percent for ' : 'Alert threshold for ') + label(r));
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
    ctx.strokeStyle = pts[pts.length - 1] >= pts[0] ? '#3fb950' : '#ff7b72';
    ctx.stroke();
  }

  function showChange(r) {
    const pc = r.previousClose;
    if (!(pc > 0) || r.last === null) {
      r.changeEl.textContent = '–';
      r.changeEl.title = 'No previous close known';
      r.changeEl.classList.remove('up', 'down');
      return;
    }
    const pct = Number((((r.last - pc) / pc) * 100).toFixed(2));  // no "−0.00%"
    r.changeEl.textContent = (pct > 0 ? '+' : pct < 0 ? '−' : '') + Math.abs(pct).toFixed(2) + '%';
    r.changeEl.title = 'Against the previous close, ' + fmtNum(pc, r.ticker);
    r.changeEl.classList.toggle('up', pct > 0);
    r.changeEl.classList.toggle('down', pct < 0);
  }

  /* The age of r's price, on the producers' clock (clockOffset). */
  function ageOf(r) {
    if (r.lastTs === null) return null;
    return Date.now() - (clockOffset || 0) - r.lastTs * 1000;
  }

  function showAge(r) {
    const age = ageOf(r);
    const stale = age !== null && age > STALE_INTERVALS * r.intervalMs;
    r.tr.classList.toggle('stale', stale);
    r.tr.dataset.stale = stale ? 'true' : 'false';
    if (age === null) r.ageEl.textContent = 'No price yet';
    else if (stale) r.ageEl.textContent = 'Stale · ' + fmtAge(age) + ' ago';
    else r.ageEl.textContent = 'Live';
  }

  function updatePrice(t) {
    if (!t || typeof t.ticker !== 'string') return;
    const r = rows.get(t.ticker);
    if (!r) {
      // Not in the universe the page knows: ask again (it may have grown),
      // at most every UNIVERSE_RETRY_MS.
      if (universeTimer === null) {
        universeTimer = setTimeout(() => { universeTimer = null; loadTickers(); },
          Math.max(0, UNIVERSE_RETRY_MS - (Date.now() - universeAt)));
      }
      return;
    }
    describeRow(r, t);
    if (typeof t.price !== 'number') { showAge(r); return; }
    if (typeof t.timestamp === 'number') {
      const skew = Date.now() - t.timestamp * 1000;
      if (clockOffset === null || skew < clockOffset) clockOffset = skew;
      if (r.lastTs !== null && t.timestamp < r.lastTs) return;  // an older tick (a snapshot)
      r.lastTs = t.timestamp;
    }
    if (r.last !== null && t.price !== r.last) {
      const cls = t.price > r.last ? 'flash-up' : 'flash-down';
      r.priceEl.classList.remove('flash-up', 'flash-down');
      void r.priceEl.offsetWidth; // restart the flash
      r.priceEl.classList.add(cls);
      clearTimeout(r.flashTimer);
      r.flashTimer = setTimeout(() => r.priceEl.classList.remove(cls), 700);
    }
    r.last = t.price;
    r.priceEl.textContent = fmtNum(t.price, r.ticker);
    r.priceEl.dataset.price = String(t.price);
    showChange(r);
    showAge(r);
    r.points.push(t.price);
    if (r.points.length > SPARK_POINTS) r.points.shift();
    drawSpark(r);
    el('sim-badge').hidden = ![...rows.values()].some((x) => x.source === 'sim');
  }

  /* /api/tickers is the universe: rows for its assets, none for others. */
  async function loadTickers() {
    universeAt = Date.now();
    try {
      const resp = await fetch('/api/tickers');
      if (!resp.ok) return;
      const body = await resp.json();
      const list = body.tickers || [];
      const keep = new Set(list.map((t) => t.ticker));
      for (const [ticker, r] of rows) {
        if (!keep.has(ticker)) { r.tr.remove(); rows.delete(ticker); }
      }
      list.forEach((t) => { ensureRow(t); updatePrice(t); });
      el('prices-empty').hidden = rows.size > 0;
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

  /* ---------- fired alerts: banners until dismissed, title, sound ---------- */
  function soundOn() {
    try { return localStorage.getItem(SOUND_KEY) !== 'off'; } catch (e) { return true; }
  }
  function showSound() {
    const b = el('sound');
    const on = soundOn();
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.textContent = on ? 'Sound on' : 'Sound off';
  }
  function toggleSound() {
    try { localStorage.setItem(SOUND_KEY, soundOn() ? 'off' : 'on'); } catch (e) { /* private mode */ }
    showSound();
  }

  function beep() {
    if (!soundOn()) return;
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

  /* The tab's title counts the banners not yet dismissed. */
  function showUnseen() {
    const n = el('banners').querySelectorAll('.alert-banner').length;
    document.title = n > 0 ? '(' + n + ') ' + TITLE : TITLE;
    let all = el('banners').querySelector('.dismiss-all');
    if (n > 1 && !all) {
      all = document.createElement('button');
      all.type = 'button';
      all.className = 'dismiss-all';
      all.textContent = 'Dismiss all alerts';
      all.addEventListener('click', () => {
        el('banners').replaceChildren();
        showUnseen();
      });
      el('banners').prepend(all);
    } else if (n <= 1 && all) {
      all.remove();
    }
  }

  function showBanner(a, text) {
    const b = document.createElement('div');
    b.className = 'alert-banner';
    b.dataset.testid = 'banner';
    b.dataset.alertId = a.alert_id;
    if (Number.isInteger(a.firing)) b.dataset.firing = String(a.firing);
    b.setAttribute('role', 'alert');
    const msg = document.createElement('span');
    msg.textContent = 'Alert triggered: ' + text +
      (Number.isInteger(a.firing) ? ' (time ' + a.firing + ')' : '');
    const note = noteEl(a);
    if (note) msg.append(note);
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'dismiss';
    close.textContent = 'Dismiss';
    close.setAttribute('aria-label', 'Dismiss alert: ' + text);
    close.addEventListener('click', () => {
      b.remove();
      showUnseen();
    });
    b.append(msg, close);
    el('banners').append(b);
    showUnseen();
  }

  function notify(text) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try { new Notification('Stock alert', {body: text}); } catch (e) { /* mobile: no constructor */ }
  }

  /* The server's text is in the one number format already. */
  function alertText(a) {
    if (a.message) return a.message;
    return a.ticker + ' is ' + a.type + ' ' + fmtNum(a.threshold, a.ticker, true) +
      ' (Current: ' + fmtNum(a.price, a.ticker) + ')';
  }

  function renderHistory() {
    const list = el('recent-list');
    list.replaceChildren();
    history.slice(0, historyShown).forEach((a) => {
      const li = document.createElement('li');
      li.dataset.alertId = a.alert_id;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = alertText(a);
      if (isExpired(a)) {
        // Expired unfired: marked, never shown as triggered.
        li.className = 'expired';
        li.dataset.status = 'expired';
        const tag = document.createElement('span');
        tag.className = 'status-tag';
        tag.textContent = 'Expired';
        what.prepend(tag);
      }
      const note = noteEl(a);
      if (note) what.append(note);
      const when = document.createElement('time');
      when.className = 'when';
      when.textContent = fmtTime(a.timestamp);
      li.append(what, when);
      list.append(li);
    });
    el('recent-empty').hidden = history.length > 0;
    el('recent-more').hidden = history.length <= historyShown;
    el('recent-count').textContent = String(history.length);
    el('bar-triggered').textContent = String(history.length);
  }

  /* The channels of an alert (absent: the browser only, as before). */
  function hasChannel(a, ch) {
    return Array.isArray(a.channels) ? a.channels.includes(ch) : ch === 'browser';
  }

  function onAlert(a) {
    if (!a || typeof a.alert_id !== 'string' || seenAlerts.has(alertKey(a))) return;
    seenAlerts.add(alertKey(a));
    const text = alertText(a);
    if (isExpired(a)) {
      showMessage(text, 'ok');
    } else if (!hasChannel(a, 'browser')) {
      // E-mail only: listed under Triggered, no banner and no sound.
    } else {
      showBanner(a, text);
      beep();
      notify(text);
    }
    history.unshift(a);
    renderHistory();
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
      (body.alerts || []).forEach((a) => {
        if (seenAlerts.has(alertKey(a))) return;
        seenAlerts.add(alertKey(a));
        history.push(a);
      });
      renderHistory();
    } catch (e) { /* optional */ }
  }

  /* ---------- active alerts ---------- */
  function renderAlerts(alerts) {
    const list = el('alerts-list');
    const focused = refocusAlerts || (document.activeElement && list.contains(document.activeElement));
    refocusAlerts = false;
    list.replaceChildren();
    alerts.forEach((a) => {
      const li = document.createElement('li');
      li.dataset.alertId = a.alert_id;
      li.dataset.ticker = a.ticker;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = describeActive(a);
      const note = noteEl(a);
      if (note) what.append(note);
      if (hasChannel(a, 'email')) {
        const ch = document.createElement('span');
        ch.className = 'channel';
        ch.dataset.testid = 'by-email';
        ch.textContent = '+ e-mail';
        what.append(ch);
      }
      if (Number.isFinite(a.expires_at)) {
        what.title = 'Expires ' + new Date(a.expires_at * 1000).toLocaleString();
      }
      const del = document.createElement('button');
      del.className = 'delete-alert';
      del.type = 'button';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', 'Delete alert ' + describeActive(a));
      del.addEventListener('click', () => deleteAlert(a.alert_id, del));
      li.append(what, del);
      list.append(li);
    });
    el('alert-count').textContent = String(alerts.length);
    el('bar-active').textContent = String(alerts.length);
    el('alerts-empty').hidden = alerts.length > 0;
    // A deleted alert's button took the focus with it: keep it in the panel.
    if (focused && !list.contains(document.activeElement)) {
      const next = list.querySelector('button');
      (next || el('alerts-title')).focus();
    }
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

  /* Asked once, when the first alert is set (never on load). */
  function askNotifications() {
    if (askedNotify) return;
    askedNotify = true;
    if ('Notification' in window && Notification.permission === 'default') {
      try { Notification.requestPermission(); } catch (e) { /* old API */ }
    }
  }
  function unlockAudio() {
    if (audioCtx || !soundOn()) return;
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (AC) audioCtx = new AC();
    } catch (e) { /* no audio */ }
  }

  /* Resolves true when the user confirms in the page's dialog. */
  function confirmFar(text) {
    const d = el('confirm');
    el('confirm-text').textContent = text;
    if (typeof d.showModal !== 'function') return Promise.resolve(window.confirm(text));
    return new Promise((resolve) => {
      d.returnValue = 'cancel';
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), {once: true});
      d.showModal();
      d.querySelector('[value="cancel"]').focus();
    });
  }

  async function setAlert(r) {
    unlockAudio();
    const input = r.input;
    const type = r.type.value;
    const threshold = Number(input.value);
    const pct = isPercent(type);
    const top = type === 'percent_down' ? 100 : 1000;
    if (input.value.trim() === '' || !isFinite(threshold) || threshold <= 0 ||
        (pct && (threshold > top || (type === 'percent_down' && threshold >= 100)))) {
      showMessage(pct ? 'Enter a percent above 0 and ' + (top === 100 ? 'below 100' : 'at most 1000') +
        ' for ' + r.ticker : 'Enter a threshold greater than 0 for ' + r.ticker);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    const shown = pct ? threshold + '%' : fmtNum(threshold, r.ticker, true);
    if (!pct && r.last > 0 && (threshold > FAR_FACTOR * r.last || threshold < r.last / FAR_FACTOR)) {
      const ok = await confirmFar(r.ticker + ' is at ' + fmtNum(r.last, r.ticker) + ': ' + shown +
        ' is more than ' + FAR_FACTOR + ' times ' + (threshold > r.last ? 'above' : 'below') +
        ' it. Set an alert ' + type + ' ' + shown + ' anyway?');
      if (!ok) { input.focus(); return; }
    }
    const cooldown = Number(r.repeat.value);
    const note = r.note.value.trim();
    r.button.disabled = true;
    try {
      const resp = await fetch('/api/set-alert', {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(Object.assign(pct ? {ticker: r.ticker, percent: threshold, type: type}
          : {ticker: r.ticker, threshold: threshold, type: type},
          pct && r.window.value !== '' ? {window_s: Number(r.window.value)} : {},
          r.byEmail.checked ? {channels: ['browser', 'email']} : {},
          cooldown > 0 ? {repeat: 'every', cooldown_s: cooldown} : {},
          note !== '' ? {note: note} : {})),
      });
      if (!resp.ok) {
        showMessage('Alert not set: ' + await errorText(resp));
        return;
      }
      const set = await resp.json();
      const what = type === 'crosses' ? 'crosses ' + shown + (set.direction === 'down' ? ' (from above)' : ' (from below)')
        : pct ? (type === 'percent_up' ? 'up ' : 'down ') + shown +
          (set.window_s ? ' from its ' + windowName(set.window_s) + (type === 'percent_up' ? ' low' : ' high') : '')
        : type + ' ' + shown;
      showMessage('Alert set: ' + r.ticker + ' ' + what +
        (cooldown > 0 ? ', repeating at most ' + everyText(cooldown) : '') +
        (r.byEmail.checked ? (emailConfirmed ? ', also by e-mail' :
          ', by e-mail once your address is confirmed') : ''), 'ok');
      input.value = '';
      r.note.value = '';
      askNotifications();
      loadAlerts();
    } catch (e) {
      showMessage('Alert not set: the server is unreachable');
    } finally {
      r.button.disabled = false;
      input.focus();
    }
  }

  async function deleteAlert(id, btn) {
    refocusAlerts = document.activeElement === btn;
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

  /* ---------- the e-mail address (double opt-in: confirmed by a link) ---------- */
  let emailConfirmed = false;

  function showEmail(s) {
    const addr = typeof s.email === 'string' ? s.email : '';
    emailConfirmed = addr !== '' && s.email_confirmed === true;
    if (document.activeElement !== el('email-input')) el('email-input').value = addr;
    el('email-remove').hidden = addr === '';
    let text = 'No address: alerts reach this page only.';
    if (addr !== '' && emailConfirmed) text = addr + ' is confirmed: alerts you mark "also by e-mail" go there.';
    else if (addr !== '') text = 'Check ' + addr + ' for the confirmation link: nothing else is sent there before.';
    el('email-state').textContent = text;
  }

  async function loadSettings() {
    try {
      const resp = await fetch('/api/settings');
      if (resp.ok) showEmail(await resp.json());
    } catch (e) { /* optional */ }
  }

  async function saveEmail(value) {
    const btns = el('email-form').querySelectorAll('button');
    btns.forEach((b) => { b.disabled = true; });
    try {
      const resp = await fetch('/api/settings', {
        method: 'PUT',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: value}),
      });
      if (!resp.ok) {
        showMessage('Address not saved: ' + await errorText(resp));
        return;
      }
      const s = await resp.json();
      el('email-input').value = typeof s.email === 'string' ? s.email : '';
      showEmail(s);
      if (s.confirmation_sent) showMessage('Confirmation mail sent to ' + s.email, 'ok');
    } catch (e) {
      showMessage('Address not saved: the server is unreachable');
    } finally {
      btns.forEach((b) => { b.disabled = false; });
    }
  }

  /* ---------- start ---------- */
  function jumpTo(ev) {
    const target = document.querySelector(ev.currentTarget.getAttribute('href'));
    if (!target) return;
    ev.preventDefault();
    target.scrollIntoView({block: 'start'});
    target.focus({preventScroll: true});
  }

  function start() {
    setStatus(false);
    el('status').textContent = 'Connecting…';
    showSound();
    el('sound').addEventListener('click', toggleSound);
    el('recent-more').addEventListener('click', () => {
      historyShown += RECENT_PAGE * 2;
      renderHistory();
    });
    document.querySelectorAll('.phone-bar a, a.skip').forEach((a) => a.addEventListener('click', jumpTo));
    loadTickers().then(startPriceStream);
    setInterval(() => rows.forEach(showAge), 1000);
    setInterval(loadTickers, UNIVERSE_REFRESH_MS);
    loadAlerts();
    loadHistory().then(startAlertStream);
    el('email-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveEmail(el('email-input').value.trim());
    });
    el('email-remove').addEventListener('click', () => saveEmail(null));
    // A link followed in another tab confirms the address: look again then.
    window.addEventListener('focus', loadSettings);
    loadSettings();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
