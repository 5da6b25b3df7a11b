// xtimer console: plain JavaScript, no build step, no library. It calls the same API as any client
// (README "API"), from the same origin; views live in the URL fragment:
//   #/                           pick an app
//   #/apps/<app>                 its timers
//   #/apps/<app>/new             create a timer
//   #/apps/<app>/activity        its fires, failures and lateness over the last hour
//   #/apps/<app>/timers/<id>     a timer: definition, next fires, history
//   #/apps/<app>/timers/<id>/edit
'use strict';

(function () {
  // The API is served beside the console: /console -> "", /api/console -> "/api" (a deployed stage).
  const API_BASE = location.pathname.replace(/\/console(\/.*)?$/, '');
  const KEY_STORE = 'xtimer.key';
  const APP_STORE = 'xtimer.app';
  const PAGE_SIZE = 20;
  const HISTORY_PAGE_SIZE = 50;
  const LIVE_EVERY_MS = 3000;
  const PREVIEW_DEBOUNCE_MS = 350;
  const LOOKUPS_AT_ONCE = 4; // per-row look-ups (description, next fire, last result) in flight at most
  const AUTH_CODES = new Set([40100, 40300]);
  const STATUS = { 0: 'not run', 1: 'running', 2: 'succeeded', 3: 'failed', 4: 'missed', 5: 'skipped', 6: 'held' };
  const ENABLED = 2;
  const COMPLETED = 3; // no fires left: never fired again, kept with its history
  const MISFIRE_WORDS = { all: 'all made late, within the catch-up window', once: 'only the latest made', skip: 'skipped' };
  const OVERLAP_WORDS = {
    skip: 'skipped while the previous fire is running or being retried',
    buffer_one: 'one held until the previous fire is done, any further skipped',
  };

  const $ = (selector, root) => (root || document).querySelector(selector);

  // --- DOM building: text always goes in as text nodes, never as HTML -----------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
      else if (name === 'dataset') Object.assign(el.dataset, value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  // --- the API ------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(httpStatus, code, message, field) {
      super(message);
      this.httpStatus = httpStatus;
      this.code = code;
      this.field = field || null;
    }
  }

  async function api(method, call, { query, body } = {}) {
    const url = new URL(API_BASE + '/xtimer/' + call, location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
    }
    const headers = { Accept: 'application/json' };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers['X-Xtimer-Key'] = key;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(url, {
        method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, 0, 'The service did not answer (' + err.message + '): is it running?');
    }
    let reply = null;
    try { reply = await response.json(); } catch (err) { reply = null; }
    if (!reply || typeof reply.code !== 'number') {
      if (response.status === 401 || response.status === 403) reply = { code: response.status * 100, message: '' };
      else throw new ApiError(response.status, 0, 'The service answered HTTP ' + response.status + ' without its usual reply.');
    }
    if (reply.code !== 0) {
      const error = new ApiError(response.status, reply.code, reply.message || 'error ' + reply.code,
        reply.data && reply.data.field);
      if (AUTH_CODES.has(error.code)) showAuthNotice(error);
      throw error;
    }
    hideAuthNotice();
    return reply.data === undefined ? {} : reply.data;
  }

  /** Runs at most `limit` of the queued jobs at a time (the per-row look-ups of the list). */
  function limiter(limit) {
    let running = 0;
    const waiting = [];
    const next = () => {
      if (running >= limit || !waiting.length) return;
      running += 1;
      const { job, resolve, reject } = waiting.shift();
      job().then(resolve, reject).finally(() => { running -= 1; next(); });
    };
    return (job) => new Promise((resolve, reject) => { waiting.push({ job, resolve, reject }); next(); });
  }
  const lookup = limiter(LOOKUPS_AT_ONCE);

  // One previewCron per distinct (cron, time zone) on a page of the list (asked again at each
  // drawing of the list, so that its next fire times stay current).
  const previews = new Map();
  function previewOnce(cron, timezone) {
    const cacheKey = timezone + '\n' + cron;
    if (!previews.has(cacheKey)) {
      const pending = lookup(() => api('POST', 'previewCron', { body: { cron, timezone, count: 1 } }));
      pending.catch(() => previews.delete(cacheKey));
      previews.set(cacheKey, pending);
    }
    return previews.get(cacheKey);
  }

  // --- times ----------------------------------------------------------------------------------------

  function formatTime(iso, timezone) {
    if (!iso) return '—';
    const date = new Date(iso);
    const options = {
      year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
      hourCycle: 'h23', timeZoneName: 'short',
    };
    try {
      return new Intl.DateTimeFormat(undefined, { ...options, timeZone: timezone || 'UTC' }).format(date);
    } catch (err) {
      return new Intl.DateTimeFormat(undefined, { ...options, timeZone: 'UTC' }).format(date);
    }
  }

  function timeEl(iso, timezone) {
    if (!iso) return '—';
    return h('time', { datetime: iso, title: iso }, formatTime(iso, timezone));
  }

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  function fromNow(iso) {
    const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
    const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === 'second') return relative.format(Math.round(seconds / size), unit);
    }
    return '';
  }

  function formatMs(ms) {
    if (ms === null || ms === undefined) return '—';
    const sign = ms < 0 ? '−' : '';
    const abs = Math.abs(ms);
    if (abs < 1000) return sign + Math.round(abs) + ' ms';
    if (abs < 60000) return sign + (abs / 1000).toFixed(abs < 10000 ? 2 : 1) + ' s';
    if (abs < 3600000) return sign + (abs / 60000).toFixed(1) + ' min';
    return sign + (abs / 3600000).toFixed(1) + ' h';
  }

  // How late the callback was made, against the fire time: the call began durationMs before it
  // finished (startedAt is when the worker claimed the fire, up to a second before it is due).
  // A fire still running has only its claim, and a missed one never started: neither has a call.
  function callLateness(task) {
    if (task.status === 1 || task.status === 4 || task.status === 5 || task.status === 6) return null; // no call (yet)
    if (task.latenessMs !== null && task.latenessMs !== undefined) return task.latenessMs; // sentAt - scheduledAt
    if (task.finishedAt && task.durationMs !== null && task.durationMs !== undefined && task.startedAt) {
      return new Date(task.finishedAt).getTime() - task.durationMs - task.fireMs;
    }
    return task.startedAt ? new Date(task.startedAt).getTime() - task.fireMs : null;
  }

  function endLateness(task) {
    return callLateness(task) !== null && task.finishedAt ? new Date(task.finishedAt).getTime() - task.fireMs : null;
  }

  function lateText(ms) {
    if (ms === null) return '—';
    if (Math.abs(ms) < 1) return 'on time';
    return formatMs(Math.abs(ms)) + (ms > 0 ? ' late' : ' early');
  }

  // --- page furniture: notices, toasts, confirmation, focus -----------------------------------------

  function showAuthNotice(error) {
    const notice = $('#notice');
    const app = currentApp() || 'this app';
    const refused = error.code === 40300;
    clear(notice);
    notice.append(
      h('p', null, h('strong', null, refused ? 'The API key was refused. ' : 'This service needs an API key. '),
        refused
          ? 'The key in the “API key” field is not allowed to use ' + app + '. Enter a key for it and press Open.'
          : 'Enter the key for ' + app + ' in the “API key” field at the top and press Open.'),
      error.message ? h('p', { class: 'muted' }, 'The service said: ' + error.message + ' (' + error.code + ')') : null,
      h('p', null, h('button', { type: 'button', class: 'small', onclick: () => $('#key-input').focus() }, 'Enter a key')),
    );
    notice.hidden = false;
  }

  function hideAuthNotice() {
    const notice = $('#notice');
    if (!notice.hidden) { notice.hidden = true; clear(notice); }
  }

  let toastTimer = null;
  function toast(message, isError) {
    const el = $('#toast');
    el.classList.toggle('error', Boolean(isError));
    el.textContent = message;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.textContent = ''; }, isError ? 9000 : 5000);
  }

  function reportError(error) {
    if (error instanceof ApiError && AUTH_CODES.has(error.code)) return; // the notice says it
    toast(error.message || String(error), true);
  }

  function confirmAction(text, okLabel) {
    const dialog = $('#confirm-dialog');
    $('#confirm-title').textContent = okLabel + '?';
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('#confirm-ok').removeEventListener('click', ok);
        $('#confirm-cancel').removeEventListener('click', cancel);
        dialog.removeEventListener('close', cancel);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const ok = () => done(true);
      const cancel = () => done(false);
      $('#confirm-ok').addEventListener('click', ok);
      $('#confirm-cancel').addEventListener('click', cancel);
      dialog.addEventListener('close', cancel);
      dialog.showModal();
      $('#confirm-cancel').focus();
    });
  }

  function statusBadge(code, extraClass) {
    const name = STATUS[code] || 'unknown';
    return h('span', { class: 'badge ' + name.replace(' ', '-') + (extraClass ? ' ' + extraClass : '') }, name);
  }

  function timerStatusBadge(timer) {
    if (timer.status === COMPLETED) return h('span', { class: 'badge completed' }, 'completed');
    return timer.status === ENABLED
      ? h('span', { class: 'badge enabled' }, 'enabled')
      : h('span', { class: 'badge disabled' }, 'disabled');
  }

  // --- routing ----------------------------------------------------------------------------------------

  let generation = 0; // bumped at each view change: late answers of the old view are dropped
  const cleanups = [];

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((part) => {
      try { return decodeURIComponent(part); } catch (err) { return part; }
    });
    if (parts[0] !== 'apps' || !parts[1]) return { view: 'home' };
    const app = parts[1];
    if (parts.length === 2) return { view: 'list', app };
    if (parts[2] === 'new' && parts.length === 3) return { view: 'create', app };
    if (parts[2] === 'activity' && parts.length === 3) return { view: 'activity', app };
    if (parts[2] === 'timers' && /^\d+$/.test(parts[3] || '')) {
      if (parts.length === 4) return { view: 'timer', app, id: parts[3] };
      if (parts[4] === 'edit' && parts.length === 5) return { view: 'edit', app, id: parts[3] };
    }
    return { view: 'missing', app };
  }

  const link = {
    list: (app) => '#/apps/' + encodeURIComponent(app),
    create: (app) => '#/apps/' + encodeURIComponent(app) + '/new',
    activity: (app) => '#/apps/' + encodeURIComponent(app) + '/activity',
    timer: (app, id) => '#/apps/' + encodeURIComponent(app) + '/timers/' + id,
    edit: (app, id) => '#/apps/' + encodeURIComponent(app) + '/timers/' + id + '/edit',
  };

  function currentApp() {
    return parseRoute().app || null;
  }

  function go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  /** Starts a view: the old one's timers stop, its late answers are ignored, focus moves to `main`. */
  function beginView(title) {
    generation += 1;
    while (cleanups.length) cleanups.pop()();
    document.title = title + ' · xtimer console';
    const main = clear($('#main'));
    return { main, gen: generation };
  }

  function focusHeading(main) {
    const heading = $('h1', main);
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: false }); }
  }

  let firstRender = true;
  async function render() {
    const route = parseRoute();
    if (route.app) {
      $('#app-input').value = route.app;
      sessionStorage.setItem(APP_STORE, route.app);
    }
    const moveFocus = !firstRender;
    firstRender = false;
    const views = { home: homeView, list: listView, create: formView, edit: formView, timer: timerView,
      activity: activityView, missing: missingView };
    try {
      await views[route.view](route, moveFocus);
    } catch (error) {
      reportError(error);
    }
  }

  // --- views --------------------------------------------------------------------------------------------

  function homeView() {
    const { main } = beginView('Pick an app');
    main.append(
      h('h1', null, 'Pick an app'),
      h('p', null, 'Enter the name of an application in the “App” field at the top and press Open to see its timers. ',
        'If the service asks for an API key, enter it in “API key”: it is kept in this browser tab only.'),
    );
    const remembered = sessionStorage.getItem(APP_STORE);
    if (remembered) {
      main.append(h('p', null, 'Last opened: ', h('a', { href: link.list(remembered) }, remembered)));
    }
    $('#app-input').focus();
  }

  function missingView(route) {
    const { main } = beginView('Not found');
    main.append(h('h1', null, 'No such page'),
      h('p', null, h('a', { href: route.app ? link.list(route.app) : '#/' }, 'Back to the timers')));
  }

  // The app's last hour (getAppActivity, from its task records): totals, lateness, fires per minute
  // with the failed ones, and the timers that fired, most failures first. It refreshes itself.
  async function activityView(route, moveFocus) {
    const app = route.app;
    const view = beginView('Last hour of ' + app);
    const { main } = view;
    const holder = h('div', { id: 'activity' }, h('p', { class: 'loading' }, 'Loading the last hour…'));
    main.append(
      h('p', { class: 'breadcrumb' }, h('a', { href: link.list(app) }, '← Timers of ' + app)),
      h('h1', null, 'Last hour of ', h('span', { class: 'mono' }, app)),
      holder);
    if (moveFocus) focusHeading(main);
    const load = async () => {
      let data;
      try {
        data = await api('GET', 'getAppActivity', { query: { app, minutes: 60 } });
      } catch (error) {
        if (view.gen === generation) {
          clear(holder).append(h('p', { class: 'empty' }, AUTH_CODES.has(error.code)
            ? 'The figures show once the service accepts the key.' : 'The last hour could not be loaded: ' + error.message));
        }
        throw error;
      }
      if (view.gen !== generation) return;
      clear(holder).append(...activityParts(app, data));
    };
    await load();
    const every = setInterval(() => { load().catch(() => {}); }, LIVE_EVERY_MS * 5);
    cleanups.push(() => clearInterval(every));
  }

  function activityParts(app, data) {
    const t = data.totals;
    const late = data.lateness;
    const summary = h('dl', { class: 'definition', id: 'activity-totals' }, [
      ['Fires', t.fires + ' (' + t.succeeded + ' succeeded, ' + t.failed + ' failed, ' + t.missed + ' missed, ' +
        t.skipped + ' skipped, ' + t.underWay + ' under way)'],
      ['Lateness', late.count ? 'p50 ' + formatMs(late.p50Ms) + ', p95 ' + formatMs(late.p95Ms) + ', p99 ' +
        formatMs(late.p99Ms) + ', max ' + formatMs(late.maxMs) + ' (' + late.count + ' first attempts)'
        : h('span', { class: 'muted' }, 'no first attempt finished yet')],
      ['Span', [timeEl(data.since, 'UTC'), ' to ', timeEl(data.until, 'UTC')]],
    ].map(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
    const parts = [summary];
    if (data.partial) {
      parts.push(h('p', { class: 'notice' }, 'Partial: only the ' + data.timersRead +
        ' newest timers (and at most an hour of records each) were read.'));
    }
    parts.push(minuteChart(data.minutes));
    if (!data.timers.length) {
      parts.push(h('p', { class: 'empty' }, 'No timer of ' + app + ' fired in the last hour.'));
      return parts;
    }
    const body = h('tbody');
    for (const timer of data.timers) {
      body.append(h('tr', null,
        h('td', { 'data-label': 'Timer' }, h('a', { class: 'name-link', href: link.timer(app, timer.timerId) }, timer.name)),
        h('td', { 'data-label': 'Fires' }, String(timer.fires)),
        h('td', { 'data-label': 'Failed' }, String(timer.failed)),
        h('td', { 'data-label': 'Missed or skipped' }, String(timer.missed + timer.skipped)),
        h('td', { 'data-label': 'Lateness p95' }, formatMs(timer.lateness.p95Ms))));
    }
    parts.push(h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'activity-timers' },
      h('caption', null, 'Timers that fired, most failures first'),
      h('thead', null, h('tr', null, ['Timer', 'Fires', 'Failed', 'Missed or skipped', 'Lateness p95']
        .map((label) => h('th', { scope: 'col' }, label)))),
      body)));
    return parts;
  }

  function minuteChart(minutes) {
    const W = 900; const H = 160; const left = 40; const bottom = 22; const top = 8;
    const most = Math.max(1, ...minutes.map((m) => m.fires));
    const barW = (W - left - 8) / minutes.length;
    const yOf = (n) => H - bottom - n / most * (H - bottom - top);
    const failed = minutes.reduce((sum, m) => sum + m.failed, 0);
    const fires = minutes.reduce((sum, m) => sum + m.fires, 0);
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'minutes-title minutes-desc' },
      s('title', { id: 'minutes-title' }, 'Fires per minute'),
      s('desc', { id: 'minutes-desc' }, fires + ' fires in ' + minutes.length + ' minutes, ' + failed +
        ' of them failed; the most in one minute: ' + most + '.'),
      s('line', { class: 'axis', x1: left, y1: H - bottom, x2: W - 8, y2: H - bottom }),
      s('text', { x: left - 6, y: top + 8, 'text-anchor': 'end' }, String(most)),
      s('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
    minutes.forEach((m, i) => {
      const x = left + i * barW;
      if (m.fires) {
        const ok = s('rect', { class: 'bar', x: x + 1, y: yOf(m.fires), width: Math.max(1, barW - 2), height: yOf(0) - yOf(m.fires) },
          s('title', null, m.start.slice(11, 16) + ' UTC: ' + m.fires + ' fires, ' + m.failed + ' failed'));
        svg.append(ok);
      }
      if (m.failed) {
        svg.append(s('rect', { class: 'bar failed', x: x + 1, y: yOf(m.failed), width: Math.max(1, barW - 2), height: yOf(0) - yOf(m.failed) }));
      }
      if (i % 10 === 0) svg.append(s('text', { x, y: H - 6 }, m.start.slice(11, 16)));
    });
    return h('figure', { class: 'timeline', id: 'activity-minutes' }, svg,
      h('figcaption', null, 'Fires per minute (UTC); the failed ones in the lower, darker part of each bar.'));
  }

  // The list: one page of timers; per row, the description and next fire (previewCron, once per
  // distinct schedule) and the last result (getTasks, one task) are looked up a few at a time.
  async function listView(route, moveFocus) {
    const app = route.app;
    const view = beginView('Timers of ' + app);
    const { main } = view;
    previews.clear();
    const state = listView.state && listView.state.app === app ? listView.state : { app, tokens: [], page: 0, name: '' };
    listView.state = state;

    const count = h('p', { class: 'muted', id: 'timer-count' });
    const tableHolder = h('div', { class: 'table-wrap' }, h('p', { class: 'loading' }, 'Loading timers…'));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of timers' });
    const filterInput = h('input', { id: 'filter-name', type: 'search', value: state.name, maxlength: 128 });
    main.append(
      h('div', { class: 'title-row' },
        h('h1', null, 'Timers of ', h('span', { class: 'mono' }, app)),
        h('a', { class: 'button', href: link.activity(app) }, 'Last hour'),
        h('a', { class: 'button primary', href: link.create(app) }, '+ New timer')),
      h('form', {
        class: 'filter', role: 'search', onsubmit: (event) => {
          event.preventDefault();
          state.name = filterInput.value.trim();
          state.tokens = [];
          state.page = 0;
          listView(route, false);
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'filter-name' }, 'Name contains'), filterInput),
      h('button', { type: 'submit' }, 'Filter')),
      count, tableHolder, pager,
    );
    if (moveFocus) focusHeading(main);

    let data;
    try {
      data = await api('GET', 'getAppTimers', {
        query: { app, pageSize: PAGE_SIZE, pageToken: state.tokens[state.page - 1], name: state.name },
      });
    } catch (error) {
      if (view.gen === generation) {
        clear(tableHolder).append(h('p', { class: 'empty' }, AUTH_CODES.has(error.code)
          ? 'The timers show once the service accepts the key.' : 'The timers could not be loaded: ' + error.message));
      }
      throw error;
    }
    if (view.gen !== generation) return;
    const timers = data.timers || [];
    count.textContent = state.name
      ? timers.length + ' timer' + (timers.length === 1 ? '' : 's') + ' on this page whose name contains “' + state.name + '”'
      : (data.total !== undefined ? data.total + ' timer' + (data.total === 1 ? '' : 's') + ' in all' : '');

    clear(tableHolder);
    if (!timers.length) {
      if (state.name) tableHolder.append(h('p', { class: 'empty' }, 'No timer’s name contains “' + state.name + '”.'));
      else if (state.page) tableHolder.append(h('p', { class: 'empty' }, 'No more timers.'));
      else tableHolder.append(h('p', { class: 'empty' }, 'No timers yet. ', h('a', { href: link.create(app) }, 'Create the first one')));
    } else {
      const body = h('tbody');
      const table = h('table', { class: 'cards', id: 'timers' },
        h('caption', { class: 'visually-hidden' }, 'Timers of ' + app + (state.page ? ', page ' + (state.page + 1) : '')),
        h('thead', null, h('tr', null, ['Name', 'Schedule', 'Time zone', 'Status', 'Next fire', 'Last result', 'Actions']
          .map((label) => h('th', { scope: 'col' }, label)))),
        body);
      for (const timer of timers) body.append(timerRow(timer, view, () => listView(route, false)));
      tableHolder.append(table);
    }

    clear(pager);
    if (state.page > 0) {
      pager.append(h('button', { type: 'button', onclick: () => { state.page -= 1; listView(route, true); } }, '← Newer'));
    }
    if (state.page > 0 || data.nextPageToken) pager.append(h('span', { class: 'muted' }, 'Page ' + (state.page + 1)));
    if (data.nextPageToken) {
      pager.append(h('button', {
        type: 'button', onclick: () => {
          state.tokens[state.page] = data.nextPageToken;
          state.page += 1;
          listView(route, true);
        },
      }, 'Older →'));
    }
  }

  function timerRow(timer, view, reload) {
    const app = timer.app;
    const desc = h('span', { class: 'desc' }, '…');
    const next = h('td', { 'data-label': 'Next fire' }, '…');
    const last = h('td', { 'data-label': 'Last result' }, '…');
    const row = h('tr', { dataset: { timerId: timer.timerId } },
      h('td', { 'data-label': 'Name' }, h('a', { class: 'name-link', href: link.timer(app, timer.timerId) }, timer.name)),
      h('td', { 'data-label': 'Schedule' }, h('code', null, timer.cron), desc),
      h('td', { 'data-label': 'Time zone' }, timer.timezone),
      h('td', { 'data-label': 'Status' }, timerStatusBadge(timer)),
      next, last,
      h('td', { class: 'actions', 'data-label': 'Actions' }, timerActions(timer, { small: true, after: reload })),
    );

    previewOnce(timer.cron, timer.timezone).then((preview) => {
      if (view.gen !== generation) return;
      desc.textContent = preview.description;
      clear(next);
      const when = (preview.nextFireTimes || [])[0];
      if (timer.status !== ENABLED) next.append(h('span', { class: 'muted' }, 'not scheduled'));
      else if (when) next.append(timeEl(when, timer.timezone), h('span', { class: 'desc' }, fromNow(when)));
      else next.append('—');
    }, (error) => {
      if (view.gen !== generation) return;
      desc.textContent = error.message;
      next.textContent = '—';
    });

    lookup(() => (view.gen === generation
      ? api('GET', 'getTasks', { query: { id: timer.timerId, app, pageSize: 1 } })
      : Promise.resolve(null))).then((data) => {
      if (!data || view.gen !== generation) return;
      clear(last);
      const task = (data.tasks || [])[0];
      if (!task) last.append(h('span', { class: 'muted' }, 'never run'));
      else last.append(statusBadge(task.status), h('span', { class: 'desc' }, timeEl(task.fireTime, timer.timezone)));
    }, () => { if (view.gen === generation) last.textContent = '—'; });
    return row;
  }

  /** Enable or disable, run now, edit, delete: the same buttons in the list and on the timer page. */
  function timerActions(timer, { small, after, afterDelete }) {
    const cls = small ? 'small' : '';
    const ref = { id: timer.timerId, app: timer.app };
    const hidden = (text) => h('span', { class: 'visually-hidden' }, ' ' + text);
    // After an action the view is drawn anew: focus goes back to the same place in the new one.
    const act = (button, work) => async () => {
      button.disabled = true;
      try {
        await work();
      } catch (error) {
        reportError(error);
      } finally {
        button.disabled = false;
        if (!button.isConnected) {
          const again = document.querySelector('#main [data-focus-key="' + button.dataset.focusKey + '"]');
          if (again) again.focus();
        }
      }
    };
    const keyOf = (slot) => timer.timerId + ':' + slot;
    const enabled = timer.status === ENABLED;
    const toggle = h('button', { type: 'button', class: cls, dataset: { action: enabled ? 'disable' : 'enable', focusKey: keyOf('toggle') } },
      enabled ? 'Disable' : 'Enable', hidden(timer.name));
    toggle.addEventListener('click', act(toggle, async () => {
      await api('GET', enabled ? 'unableTimer' : 'enableTimer', { query: ref });
      toast('“' + timer.name + '” is ' + (enabled ? 'disabled' : 'enabled') + '.');
      await after();
    }));
    const run = h('button', { type: 'button', class: cls, dataset: { action: 'run', focusKey: keyOf('run') } }, 'Run now', hidden(timer.name));
    run.addEventListener('click', act(run, async () => {
      const fire = await api('GET', 'triggerTimer', { query: ref });
      toast('“' + timer.name + '” runs now (fire time ' + formatTime(fire.fireTime, timer.timezone) + ').');
      await after({ ranNow: true });
    }));
    const edit = h('a', { class: 'button ' + cls, href: link.edit(timer.app, timer.timerId), dataset: { action: 'edit', focusKey: keyOf('edit') } },
      'Edit', hidden(timer.name));
    const remove = h('button', { type: 'button', class: 'danger ' + cls, dataset: { action: 'delete', focusKey: keyOf('delete') } },
      'Delete', hidden(timer.name));
    remove.addEventListener('click', act(remove, async () => {
      const sure = await confirmAction('“' + timer.name + '” (id ' + timer.timerId + ') stops firing and is removed. ' +
        'Its execution records stay until they expire. This cannot be undone.', 'Delete timer');
      if (!sure) return;
      await api('GET', 'deleteTimer', { query: ref });
      toast('“' + timer.name + '” is deleted.');
      await (afterDelete || after)();
    }));
    return h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Actions on ' + timer.name },
      timer.status === COMPLETED ? null : toggle, run, edit, remove);  // a completed timer is never enabled again
  }

  // --- a timer's page ------------------------------------------------------------------------------------

  async function timerView(route, moveFocus) {
    const { app, id } = route;
    const view = beginView('Timer ' + id);
    const { main } = view;
    main.append(h('p', { class: 'loading' }, 'Loading the timer…'));
    let timer;
    try {
      timer = await api('GET', 'getTimer', { query: { id, app } });
    } catch (error) {
      if (view.gen !== generation) return;
      clear(main).append(
        h('h1', null, error.code === 40400 ? 'Timer not found' : 'The timer could not be loaded'),
        h('p', null, error.message),
        h('p', null, h('a', { href: link.list(app) }, 'Back to the timers of ' + app)));
      if (!AUTH_CODES.has(error.code)) focusHeading(main);
      return;
    }
    if (view.gen !== generation) return;
    document.title = timer.name + ' · xtimer console';
    clear(main);

    const reload = () => timerView(route, false);
    const nextList = h('ol', { class: 'fires', id: 'next-fires' }, h('li', { class: 'loading' }, 'Loading…'));
    main.append(
      h('p', { class: 'breadcrumb' }, h('a', { href: link.list(app) }, '← Timers of ' + app)),
      h('div', { class: 'title-row' },
        h('h1', null, timer.name, ' ', timerStatusBadge(timer)),
        timerActions(timer, { after: reload, afterDelete: () => go(link.list(app)) })),
      timer.statusReason
        ? h('p', { class: 'notice', id: 'status-reason' }, h('strong', null, 'Disabled by the service: '),
          timer.statusReason, timer.pausedAt ? [' (since ', timeEl(timer.pausedAt, timer.timezone), ')'] : null)
        : null,
      h('div', { class: 'columns' },
        h('section', { 'aria-labelledby': 'definition-title' },
          h('h2', { id: 'definition-title' }, 'Definition'),
          definitionList(timer)),
        h('section', { 'aria-labelledby': 'next-title' },
          h('h2', { id: 'next-title' }, 'Next 10 fire times'),
          timer.status === ENABLED ? null
            : h('p', { class: 'hint' }, 'The timer is disabled: it fires at these times once enabled.'),
          nextList)),
    );
    const history = historySection(timer, view);
    main.append(history.section);
    if (moveFocus) focusHeading(main);

    api('POST', 'previewCron', { body: { cron: timer.cron, timezone: timer.timezone, count: 10 } }).then((preview) => {
      if (view.gen !== generation) return;
      clear(nextList);
      for (const when of preview.nextFireTimes) {
        nextList.append(h('li', null, timeEl(when, timer.timezone), ' ', h('span', { class: 'muted' }, '(' + fromNow(when) + ')')));
      }
      if (!preview.nextFireTimes.length) nextList.append(h('li', null, 'It does not fire again.'));
    }, (error) => {
      if (view.gen === generation) { clear(nextList).append(h('li', null, error.message)); }
    });
    await history.load();
  }

  function definitionList(timer) {
    const notify = timer.notifyHTTPParam || {};
    const headers = Object.entries(notify.header || {}).map(([name, value]) => name + ': ' + value).join('\n');
    const rows = [
      ['Id', h('span', { class: 'mono' }, String(timer.timerId))],
      ['App', timer.app],
      ['Schedule', [h('code', null, timer.cron), h('br'), timer.description]],
      ['Time zone', timer.timezone],
      ['Status', timerStatusBadge(timer)],
      ...scheduleOptionRows(timer),
      ...deliveryRows(timer),
      ['Callback', [h('span', { class: 'mono' }, notify.method), ' ', h('span', { class: 'mono' }, notify.url)]],
      ['Headers', headers ? h('pre', null, headers) : h('span', { class: 'muted' }, 'none')],
      ['Body', notify.body ? h('pre', null, notify.body) : h('span', { class: 'muted' }, 'none')],
      ['Created', timeEl(timer.createdAt, timer.timezone)],
      ['Updated', [timeEl(timer.updatedAt, timer.timezone), ' ', h('span', { class: 'muted' }, '(version ' + timer.version + ')')]],
    ];
    return h('dl', { class: 'definition' }, rows.map(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
  }

  /** The schedule options a timer has (startAt, endAt, maxFires, jitterSeconds, deleteAfterCompletion). */
  function scheduleOptionRows(timer) {
    const rows = [];
    if (timer.startAt) rows.push(['Starts', timeEl(timer.startAt, timer.timezone)]);
    if (timer.endAt) rows.push(['Ends', timeEl(timer.endAt, timer.timezone)]);
    if (timer.maxFires != null) rows.push(['At most', timer.maxFires + ' fire' + (timer.maxFires === 1 ? '' : 's')]);
    if (timer.jitterSeconds) rows.push(['Jitter', 'each fire 0 to ' + timer.jitterSeconds + ' s later']);
    if (timer.deleteAfterCompletion) rows.push(['When done', 'deleted after its last fire']);
    if (timer.misfirePolicy) rows.push(['Missed fires', MISFIRE_WORDS[timer.misfirePolicy] || timer.misfirePolicy]);
    if (timer.catchUpSeconds != null) rows.push(['Catch-up window', timer.catchUpSeconds + ' s']);
    if (timer.overlapPolicy) rows.push(['Overlapping fires', OVERLAP_WORDS[timer.overlapPolicy] || timer.overlapPolicy]);
    return rows;
  }

  /** The delivery policy a timer has set (unset: the service's defaults), its run of failures and last fire. */
  function deliveryRows(timer) {
    const rows = [];
    const retry = timer.retryPolicy || {};
    const parts = [];
    if (retry.maxAttempts != null) parts.push('at most ' + retry.maxAttempts + ' attempt' + (retry.maxAttempts === 1 ? '' : 's'));
    if (retry.maxAgeSeconds != null) parts.push('none later than ' + retry.maxAgeSeconds + ' s after the fire');
    if (retry.minBackoffSeconds != null || retry.maxBackoffSeconds != null) {
      parts.push('waits ' + (retry.minBackoffSeconds != null ? retry.minBackoffSeconds : 1) + ' to ' +
        (retry.maxBackoffSeconds != null ? retry.maxBackoffSeconds : 300) + ' s');
    }
    if (retry.retryOn) parts.push('retries ' + (retry.retryOn.length ? retry.retryOn.join(', ') : 'nothing'));
    if (parts.length) rows.push(['Retries', parts.join('; ')]);
    if (timer.timeoutSeconds != null) rows.push(['Timeout', timer.timeoutSeconds + ' s per attempt']);
    if (timer.failureCallback) {
      rows.push(['On failure', [h('span', { class: 'mono' }, timer.failureCallback.method), ' ',
        h('span', { class: 'mono' }, timer.failureCallback.url)]]);
    }
    if (timer.pauseAfterFailures != null) rows.push(['Pause', 'after ' + timer.pauseAfterFailures + ' failed fires in a row']);
    if (timer.consecutiveFailures) rows.push(['Failed in a row', String(timer.consecutiveFailures)]);
    if (timer.lastFire) {
      const last = timer.lastFire;
      rows.push(['Last fire', [timeEl(last.fireTime, timer.timezone), ' ', statusBadge(last.status),
        last.httpStatus != null ? ' HTTP ' + last.httpStatus : null]]);
    }
    return rows;
  }

  function recentSummary(recent) {
    if (!recent || !recent.tasks) return h('span', { class: 'muted' }, 'none yet');
    const skipped = recent.skipped || 0;
    const others = recent.tasks - recent.succeeded - recent.failed - recent.missed - skipped;
    return recent.tasks + ' in all: ' + recent.succeeded + ' succeeded, ' + recent.failed + ' failed, ' + recent.missed +
      ' missed' + (skipped ? ', ' + skipped + ' skipped' : '') + (others > 0 ? ', ' + others + ' under way' : '') + '.';
  }

  // History: the timeline and the table of one page of getTasks; the first page refreshes itself.
  function historySection(timer, view) {
    const ref = { id: timer.timerId, app: timer.app };
    const state = { tokens: [], page: 0, status: '' };
    const live = h('input', { type: 'checkbox', id: 'history-live', checked: true });
    const statusFilter = h('select', { id: 'history-status' },
      h('option', { value: '' }, 'every result'),
      Object.entries(STATUS).map(([code, name]) => h('option', { value: code }, name)));
    const figure = h('figure', { class: 'timeline', id: 'timeline' });
    const tableHolder = h('div', { class: 'table-wrap', id: 'history-table' });
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of the history' });
    const updated = h('span', { class: 'muted', id: 'history-updated' });
    const recent = h('p', { id: 'history-recent' }, 'Last 100 executions: ', recentSummary(timer.recent));
    const section = h('section', { 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, 'History'),
      h('div', { class: 'history-controls' },
        h('div', { class: 'field' }, h('label', { for: 'history-status' }, 'Show'), statusFilter),
        h('div', { class: 'field' }, live, h('label', { for: 'history-live' }, 'Refresh every ' + LIVE_EVERY_MS / 1000 + ' s')),
        h('button', { type: 'button', class: 'small', onclick: () => load() }, 'Refresh'),
        updated),
      recent, figure, tableHolder, pager);

    let loading = false;
    async function load() {
      if (loading) return;
      loading = true;
      try {
        const data = await api('GET', 'getTasks', {
          query: { ...ref, pageSize: HISTORY_PAGE_SIZE, pageToken: state.tokens[state.page - 1], status: state.status },
        });
        if (view.gen !== generation) return;
        drawHistory(data);
        if (state.page === 0 && !state.status) {
          const fresh = await api('GET', 'getTimer', { query: ref });
          if (view.gen === generation) clear(recent).append('Last 100 executions: ', recentSummary(fresh.recent));
        }
      } catch (error) {
        if (view.gen === generation) reportError(error);
      } finally {
        loading = false;
      }
    }

    function drawHistory(data) {
      // Redrawn every few seconds: whoever is on a button of it (the pager) stays on it.
      const active = document.activeElement;
      const focusKey = active && section.contains(active) ? active.dataset.focusKey : null;
      const tasks = data.tasks || [];
      clear(figure).append(...timeline(tasks, timer.timezone, figure.clientWidth));
      clear(tableHolder).append(tasks.length ? historyTable(tasks, timer.timezone)
        : h('p', { class: 'empty' }, state.status ? 'No executions with this result.' : 'No executions yet.'));
      updated.textContent = 'Updated ' + new Date().toLocaleTimeString(undefined, { hourCycle: 'h23' });
      clear(pager);
      if (state.page > 0) {
        pager.append(h('button', { type: 'button', dataset: { focusKey: 'newer' }, onclick: () => { state.page -= 1; load(); } },
          '← Newer'));
      }
      if (state.page > 0 || data.nextPageToken) pager.append(h('span', { class: 'muted' }, 'Page ' + (state.page + 1)));
      if (data.nextPageToken) {
        pager.append(h('button', {
          type: 'button', dataset: { focusKey: 'older' },
          onclick: () => { state.tokens[state.page] = data.nextPageToken; state.page += 1; load(); },
        }, 'Older →'));
      }
      if (focusKey && !section.contains(document.activeElement)) {
        let again = section.querySelector('[data-focus-key="' + focusKey + '"]');
        if (!again) { again = $('#history-title'); again.setAttribute('tabindex', '-1'); }
        again.focus();
      }
    }

    statusFilter.addEventListener('change', () => { state.status = statusFilter.value; state.tokens = []; state.page = 0; load(); });
    const every = setInterval(() => {
      if (live.checked && state.page === 0 && !document.hidden) load();
    }, LIVE_EVERY_MS);
    cleanups.push(() => clearInterval(every));
    return { section, load };
  }

  function historyTable(tasks, timezone) {
    const body = h('tbody');
    for (const task of tasks) {
      const late = callLateness(task);
      body.append(h('tr', { dataset: { status: task.statusName, fireMs: task.fireMs } },
        h('td', { 'data-label': 'Fire time' }, timeEl(task.fireTime, timezone), task.manual ? h('span', { class: 'tag' }, 'run now') : null),
        h('td', { 'data-label': 'Result' }, statusBadge(task.status)),
        h('td', { 'data-label': 'Attempts' }, String(task.attempts)),
        h('td', { 'data-label': 'HTTP status' }, task.httpStatus === null || task.httpStatus === undefined ? '—' : String(task.httpStatus)),
        h('td', { 'data-label': 'Duration' }, formatMs(task.durationMs)),
        h('td', { 'data-label': 'Called' }, lateText(late)),
        h('td', { class: 'error-cell', 'data-label': 'Error' }, task.error || null),
      ));
    }
    return h('table', { class: 'cards' },
      h('caption', { class: 'visually-hidden' }, 'Executions, newest first'),
      h('thead', null, h('tr', null, ['Fire time', 'Result', 'Attempts', 'HTTP status', 'Duration', 'Called', 'Error']
        .map((label) => h('th', { scope: 'col' }, label)))),
      body);
  }

  // --- the timeline: x is the fire time, y how late the call started (a dot) and ended (a bar's end) --

  const SYMLOG_UNIT = 10; // ms: below this the scale is about linear
  const symlog = (ms) => Math.sign(ms) * Math.log10(1 + Math.abs(ms) / SYMLOG_UNIT);
  const LATENESS_TICKS = [-60000, -10000, -1000, -100, 0, 100, 1000, 10000, 60000, 600000, 3600000, 86400000];

  function tickLabel(ms) {
    const abs = Math.abs(ms);
    const sign = ms < 0 ? '−' : '';
    if (abs < 1000) return sign + abs + ' ms';
    if (abs < 60000) return sign + abs / 1000 + ' s';
    if (abs < 3600000) return sign + abs / 60000 + ' min';
    return sign + abs / 3600000 + ' h';
  }

  function markShape(statusName, x, y, size) {
    const r = size;
    switch (statusName) {
      case 'failed': // a diamond
        return s('path', { d: `M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z` });
      case 'missed': // a hollow square
      case 'skipped':
        return s('rect', { x: x - r + 1, y: y - r + 1, width: 2 * r - 2, height: 2 * r - 2 });
      case 'running': // a triangle
        return s('path', { d: `M${x} ${y - r - 1}L${x + r + 1} ${y + r}L${x - r - 1} ${y + r}Z` });
      case 'not run': // a ring
      case 'held':
        return s('circle', { cx: x, cy: y, r: r - 1 });
      default: // succeeded: a dot
        return s('circle', { cx: x, cy: y, r });
    }
  }

  function timeline(tasks, timezone, width) {
    // Drawn at the width it is shown at, so that its text stays readable on a phone.
    const W = Math.round(Math.min(1200, Math.max(300, width || 900))); const H = W < 600 ? 220 : 240;
    const left = 64; const right = 16; const top = 14; const bottom = 30;
    const laneH = 26; // "never started" lane at the top (missed, or waiting with no attempt yet)
    const plotTop = top + laneH + 8; const plotBottom = H - bottom;
    const counts = {};
    for (const task of tasks) counts[task.statusName] = (counts[task.statusName] || 0) + 1;
    const summary = tasks.length
      ? tasks.length + ' executions on this page: ' + Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', ') +
        '. Each is a mark at its fire time, placed by how late its callback was made; the table below lists them.'
      : 'No executions on this page yet.';

    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'timeline-title timeline-desc' },
      s('title', { id: 'timeline-title' }, 'Timeline of executions'),
      s('desc', { id: 'timeline-desc' }, summary));

    const fires = tasks.map((t) => t.fireMs);
    let minFire = Math.min(...fires); let maxFire = Math.max(...fires);
    if (!tasks.length) { maxFire = Date.now(); minFire = maxFire - 60000; }
    if (maxFire - minFire < 2000) { minFire -= 1000; maxFire += 1000; }
    const xOf = (ms) => left + 10 + (ms - minFire) / (maxFire - minFire) * (W - left - right - 20);

    const lates = [];
    for (const task of tasks) {
      for (const late of [callLateness(task), endLateness(task)]) {
        if (late !== null) lates.push(late);
      }
    }
    const lo = Math.min(0, ...lates); const hi = Math.max(1000, ...lates);
    const yLo = symlog(lo); const yHi = symlog(hi);
    const yOf = (ms) => plotBottom - (symlog(ms) - yLo) / (yHi - yLo || 1) * (plotBottom - plotTop - 6) - 3;

    // The lane and the axes.
    svg.append(
      s('rect', { class: 'lane', x: left, y: top, width: W - left - right, height: laneH }),
      s('text', { x: left - 6, y: top + laneH / 2 + 4, 'text-anchor': 'end' }, 'no call'),
      s('line', { class: 'axis', x1: left, y1: plotBottom, x2: W - right, y2: plotBottom }),
      s('line', { class: 'axis', x1: left, y1: plotTop, x2: left, y2: plotBottom }),
    );
    for (const tick of LATENESS_TICKS) {
      if (tick < lo || tick > hi) continue;
      const y = yOf(tick);
      svg.append(
        s('line', { class: tick === 0 ? 'zero' : 'grid', x1: left, y1: y, x2: W - right, y2: y }),
        s('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, tick === 0 ? 'on time' : tickLabel(tick)),
      );
    }
    svg.append(s('text', { x: 12, y: (plotTop + plotBottom) / 2, transform: `rotate(-90 12 ${(plotTop + plotBottom) / 2})`,
      'text-anchor': 'middle' }, 'late by'));
    const shortTime = (ms) => formatTime(new Date(ms).toISOString(), timezone).replace(/^.*?(\d{1,2}:\d{2}:\d{2}).*$/, '$1');
    svg.append(
      s('text', { x: left, y: H - 8, 'text-anchor': 'start' }, shortTime(minFire)),
      s('text', { x: W - right, y: H - 8, 'text-anchor': 'end' }, shortTime(maxFire)),
      s('text', { x: (left + W - right) / 2, y: H - 8, 'text-anchor': 'middle' }, 'fire time (' + (timezone || 'UTC') + ')'),
    );

    // Oldest first, so the newest marks are drawn on top.
    for (const task of [...tasks].reverse()) {
      const x = xOf(task.fireMs);
      const started = callLateness(task);
      const finished = endLateness(task);
      const name = task.statusName;
      const mark = s('g', { class: 'mark mark-' + name.replace(' ', '-'), 'data-status': name, 'data-fire-ms': task.fireMs });
      const words = [formatTime(task.fireTime, timezone) + ': ' + name];
      if (started === null) {
        mark.append(markShape(name, x, top + laneH / 2, 5));
        words.push(name === 'running' ? 'being called' : 'not called');
      } else {
        if (finished !== null && Math.abs(yOf(finished) - yOf(started)) > 1) {
          mark.append(s('line', { class: 'span', x1: x, y1: yOf(started), x2: x, y2: yOf(finished) }));
        }
        mark.append(markShape(name, x, yOf(started), 5));
        words.push('called ' + lateText(started));
        if (task.durationMs !== null && task.durationMs !== undefined) words.push('answered in ' + formatMs(task.durationMs));
      }
      if (task.attempts > 1) words.push(task.attempts + ' attempts');
      mark.prepend(s('title', null, words.join(', ')));
      svg.append(mark);
    }

    const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' },
      ['succeeded', 'failed', 'missed', 'skipped', 'running', 'not run', 'held'].map((name) => h('li', null,
        s('svg', { viewBox: '0 0 14 14', 'aria-hidden': 'true' },
          s('g', { class: 'mark mark-' + name.replace(' ', '-') }, markShape(name, 7, 7, 5))),
        name)));
    return [svg, legend, h('figcaption', null,
      'Each mark is one execution: across, its fire time; up, how late its callback was made (below the line: early). ',
      'A bar runs on to when the answer came. ',
      'Those without a call (missed, skipped, held, or running right now) sit in the top lane.')];
  }

  // --- create and edit -------------------------------------------------------------------------------------

  const FIELD_INPUTS = {
    name: 'f-name', cron: 'f-cron', timezone: 'f-timezone', status: 'f-enable',
    notifyHTTPParam: 'f-url', 'notifyHTTPParam.url': 'f-url', 'notifyHTTPParam.method': 'f-method',
    'notifyHTTPParam.header': 'f-header', 'notifyHTTPParam.body': 'f-body',
    startAt: 'f-start-at', endAt: 'f-end-at', maxFires: 'f-max-fires', jitterSeconds: 'f-jitter',
    deleteAfterCompletion: 'f-delete-after', misfirePolicy: 'f-misfire', catchUpSeconds: 'f-catch-up',
    overlapPolicy: 'f-overlap',
    retryPolicy: 'f-max-attempts', 'retryPolicy.maxAttempts': 'f-max-attempts', 'retryPolicy.maxAgeSeconds': 'f-max-age',
    'retryPolicy.minBackoffSeconds': 'f-min-backoff', 'retryPolicy.maxBackoffSeconds': 'f-max-backoff',
    'retryPolicy.retryOn': 'f-retry-on', timeoutSeconds: 'f-timeout', failureCallback: 'f-failure-url',
    'failureCallback.url': 'f-failure-url', 'failureCallback.method': 'f-failure-method', pauseAfterFailures: 'f-pause-after',
  };

  function field(id, label, control, hint) {
    const hintId = hint ? id + '-hint' : null;
    const errorId = id + '-error';
    control.id = id;
    control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
    return h('div', { class: 'field' },
      h('label', { for: id }, label),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
      control,
      h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite' }));
  }

  function setFieldError(id, message) {
    const input = document.getElementById(id);
    const error = document.getElementById(id + '-error');
    if (!input || !error) return false;
    error.textContent = message || '';
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    return true;
  }

  function parseHeaders(text) {
    const header = {};
    const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('“' + line.slice(0, 40) + '” is not of the form Name: value');
      header[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
    return header;
  }

  let zoneList = null;
  function zoneDatalist() {
    if (!zoneList) {
      let zones = [];
      try { zones = Intl.supportedValuesOf('timeZone'); } catch (err) { zones = []; }
      if (!zones.includes('UTC')) zones = ['UTC', ...zones];
      zoneList = h('datalist', { id: 'zones' }, zones.map((zone) => h('option', { value: zone })));
    }
    return zoneList;
  }

  async function formView(route, moveFocus) {
    const editing = route.view === 'edit';
    const { app } = route;
    const view = beginView(editing ? 'Edit timer' : 'New timer in ' + app);
    const { main } = view;
    let timer = null;
    if (editing) {
      main.append(h('p', { class: 'loading' }, 'Loading the timer…'));
      timer = await api('GET', 'getTimer', { query: { id: route.id, app } });
      if (view.gen !== generation) return;
      clear(main);
    }
    const notify = (timer && timer.notifyHTTPParam) || { method: 'POST', url: '', header: {}, body: null };

    const name = h('input', { name: 'name', required: true, maxlength: 128, spellcheck: 'false', value: timer ? timer.name : '' });
    const cron = h('input', { name: 'cron', required: true, maxlength: 256, spellcheck: 'false', autocomplete: 'off',
      class: 'mono', value: timer ? timer.cron : '', placeholder: '*/5 * * * *' });
    const timezone = h('input', { name: 'timezone', list: 'zones', maxlength: 64, spellcheck: 'false', autocomplete: 'off',
      value: timer ? timer.timezone : 'UTC' });
    const method = h('select', { name: 'method' }, ['POST', 'GET', 'PUT', 'PATCH', 'DELETE']
      .map((m) => h('option', { value: m, selected: m === notify.method }, m)));
    const url = h('input', { name: 'url', type: 'url', required: true, maxlength: 2048, spellcheck: 'false',
      value: notify.url, placeholder: 'https://example.com/hook' });
    const header = h('textarea', { name: 'header', rows: 3, spellcheck: 'false' });
    header.value = Object.entries(notify.header || {}).map(([k, v]) => k + ': ' + v).join('\n');
    const body = h('textarea', { name: 'body', rows: 4, spellcheck: 'false' });
    body.value = notify.body || '';
    const enable = h('input', { type: 'checkbox', name: 'enable', id: 'f-enable' });
    // Schedule options: empty means "not set" (and clears one when editing).
    const startAt = h('input', { name: 'startAt', spellcheck: 'false', autocomplete: 'off', class: 'mono',
      value: (timer && timer.startAt) || '', placeholder: '2026-04-01T00:00:00Z' });
    const endAt = h('input', { name: 'endAt', spellcheck: 'false', autocomplete: 'off', class: 'mono',
      value: (timer && timer.endAt) || '', placeholder: '2026-07-01T00:00:00Z' });
    const maxFires = h('input', { name: 'maxFires', type: 'number', min: 1, max: 10000,
      value: timer && timer.maxFires != null ? String(timer.maxFires) : '' });
    const jitter = h('input', { name: 'jitterSeconds', type: 'number', min: 0, max: 3600,
      value: timer && timer.jitterSeconds ? String(timer.jitterSeconds) : '' });
    const misfire = h('select', { name: 'misfirePolicy' }, [['', 'default (all)'], ['all', 'all'], ['once', 'once'], ['skip', 'skip']]
      .map(([value, label]) => h('option', { value, selected: value === ((timer && timer.misfirePolicy) || '') }, label)));
    const overlap = h('select', { name: 'overlapPolicy' },
      [['', 'default (allow)'], ['allow', 'allow'], ['skip', 'skip'], ['buffer_one', 'buffer_one']]
        .map(([value, label]) => h('option', { value, selected: value === ((timer && timer.overlapPolicy) || '') }, label)));
    const catchUp = h('input', { name: 'catchUpSeconds', type: 'number', min: 0, max: 86400,
      value: timer && timer.catchUpSeconds != null ? String(timer.catchUpSeconds) : '' });
    const deleteAfter = h('input', { type: 'checkbox', name: 'deleteAfterCompletion', id: 'f-delete-after',
      checked: Boolean(timer && timer.deleteAfterCompletion) });
    // Delivery policy: empty means the service's default (and clears a setting when editing).
    const retry = (timer && timer.retryPolicy) || {};
    const numberInput = (name, min, max, value) => h('input', { name, type: 'number', min, max,
      value: value != null ? String(value) : '' });
    const maxAttempts = numberInput('maxAttempts', 1, 20, retry.maxAttempts);
    const maxAge = numberInput('maxAgeSeconds', 60, 86400, retry.maxAgeSeconds);
    const minBackoff = numberInput('minBackoffSeconds', 1, 3600, retry.minBackoffSeconds);
    const maxBackoff = numberInput('maxBackoffSeconds', 1, 3600, retry.maxBackoffSeconds);
    const retryOn = h('input', { name: 'retryOn', spellcheck: 'false', autocomplete: 'off', class: 'mono',
      value: retry.retryOn ? (retry.retryOn.length ? retry.retryOn.join(', ') : 'none') : '',
      placeholder: 'connection, timeout, 408, 429, 5xx' });
    const timeout = numberInput('timeoutSeconds', 1, 15, timer && timer.timeoutSeconds);
    const failure = (timer && timer.failureCallback) || { method: 'POST', url: '' };
    const failureUrl = h('input', { name: 'failureUrl', type: 'url', maxlength: 2048, spellcheck: 'false',
      value: failure.url, placeholder: 'https://example.com/alerts' });
    const failureMethod = h('select', { name: 'failureMethod' }, ['POST', 'PUT', 'PATCH']
      .map((m) => h('option', { value: m, selected: m === failure.method }, m)));
    const pauseAfter = numberInput('pauseAfterFailures', 1, 1000, timer && timer.pauseAfterFailures);
    const preview = h('div', { class: 'preview', id: 'cron-preview', 'aria-live': 'polite' });
    const summary = h('div', { class: 'notice form-error-summary', id: 'form-errors', role: 'alert', tabindex: '-1', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create timer');

    const cronField = field('f-cron', 'Schedule', cron,
      'A cron: 5 fields (minute first), 6 (second first: */3 * * * * * is every 3 seconds), 7 (with a year), ' +
      '@hourly…, with Quartz\'s L, W and # (0 0 12 L * ?); or once, at(2026-12-24T18:00:00); or rate(5 minutes).');
    cronField.append(preview);
    cron.setAttribute('aria-describedby', cron.getAttribute('aria-describedby') + ' cron-preview');

    const form = h('form', { novalidate: true, id: 'timer-form' },
      summary,
      field('f-name', 'Name', name, 'Unique within ' + app + '; 1 to 128 characters.'),
      cronField,
      field('f-timezone', 'Time zone', timezone, 'The IANA time zone the cron is read in, e.g. Europe/Berlin.'),
      zoneDatalist(),
      h('fieldset', null, h('legend', null, 'Callback'),
        h('div', { class: 'row-2' },
          field('f-method', 'Method', method),
          field('f-url', 'URL', url, 'http:// or https://; the service calls it at each fire time.')),
        field('f-header', 'Headers', header, 'One per line, as Name: value. Optional.'),
        field('f-body', 'Body', body, 'Sent as it is; at most 16 KiB. Optional.')),
      h('fieldset', null, h('legend', null, 'Window and limits (optional)'),
        h('div', { class: 'row-2' },
          field('f-start-at', 'Start at', startAt, 'No fire before; RFC 3339 with Z or an offset.'),
          field('f-end-at', 'End at', endAt, 'No fire at or after.')),
        h('div', { class: 'row-2' },
          field('f-max-fires', 'Max fires', maxFires, 'Completed after this many fires.'),
          field('f-jitter', 'Jitter (seconds)', jitter, 'Each fire moved later by 0 to this, the same on every retry.')),
        h('div', { class: 'row-2' },
          field('f-misfire', 'Missed fires', misfire, 'After an outage: all (late, within the window), once (the latest), skip.'),
          field('f-catch-up', 'Catch-up window (seconds)', catchUp, 'How late a missed fire may still be made.')),
        field('f-overlap', 'Overlapping fires', overlap, 'A fire that comes while the previous one is still running ' +
          'or being retried: allow (made too), skip (recorded as skipped), buffer_one (made after it; any further skipped).'),
        h('div', { class: 'field checkbox' }, deleteAfter,
          h('label', { for: 'f-delete-after' }, 'Delete the timer after its last fire')),
        h('p', { class: 'field-error', id: 'f-delete-after-error', 'aria-live': 'polite' })),
      h('fieldset', null, h('legend', null, 'Delivery (optional)'),
        h('div', { class: 'row-2' },
          field('f-max-attempts', 'Max attempts', maxAttempts, '1 to 20 per fire; default the service\'s (5).'),
          field('f-max-age', 'Max age (seconds)', maxAge, 'No retry later than this after the fire time.')),
        h('div', { class: 'row-2' },
          field('f-min-backoff', 'Min backoff (seconds)', minBackoff, 'The shortest wait before a retry (default 1).'),
          field('f-max-backoff', 'Max backoff (seconds)', maxBackoff, 'The longest (default 300).')),
        h('div', { class: 'row-2' },
          field('f-retry-on', 'Retry on', retryOn, 'connection, timeout, 3xx, 4xx, 5xx or statuses, comma-separated; none retries nothing.'),
          field('f-timeout', 'Timeout (seconds)', timeout, 'Each attempt, answer included: 1 to 15.')),
        h('div', { class: 'row-2' },
          field('f-failure-url', 'Failure callback', failureUrl, 'An http(s) address called once, with a JSON report, when a fire fails for good.'),
          field('f-failure-method', 'Send it as', failureMethod)),
        field('f-pause-after', 'Pause after failures', pauseAfter, 'Disable the timer after this many fires in a row failed for good.')),
      editing ? null : h('div', { class: 'field checkbox' }, enable, h('label', { for: 'f-enable' }, 'Enable it now')),
      h('p', { class: 'field-error', id: 'f-enable-error', 'aria-live': 'polite' }),
      h('div', { class: 'form-actions' }, submit,
        h('a', { href: editing ? link.timer(app, timer.timerId) : link.list(app) }, 'Cancel')));

    main.append(
      h('p', { class: 'breadcrumb' }, editing
        ? h('a', { href: link.timer(app, timer.timerId) }, '← ' + timer.name)
        : h('a', { href: link.list(app) }, '← Timers of ' + app)),
      h('h1', null, editing ? 'Edit “' + timer.name + '”' : 'New timer in ', editing ? null : h('span', { class: 'mono' }, app)),
      form);
    if (moveFocus) focusHeading(main);

    // Validate the cron as it is typed: previewCron, debounced; only the latest answer counts.
    let previewTimer = null;
    let asked = 0;
    const checkCron = () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(async () => {
        const mine = ++asked;
        const expression = cron.value.trim();
        if (!expression) { setFieldError('f-cron', ''); clear(preview).className = 'preview'; return; }
        try {
          const result = await api('POST', 'previewCron', {
            body: { cron: expression, timezone: timezone.value.trim() || 'UTC', count: 5 },
          });
          if (mine !== asked || view.gen !== generation) return;
          setFieldError('f-cron', '');
          setFieldError('f-timezone', '');
          preview.className = 'preview valid';
          clear(preview).append(
            h('p', null, h('strong', null, result.description), ' — next fire times:'),
            h('ol', null, result.nextFireTimes.map((when) => h('li', null, timeEl(when, result.timezone)))));
          if (!result.nextFireTimes.length) preview.append(h('p', null, 'It does not fire again.'));
        } catch (error) {
          if (mine !== asked || view.gen !== generation) return;
          if (AUTH_CODES.has(error.code)) return;
          const target = error.field === 'timezone' ? 'f-timezone' : 'f-cron';
          setFieldError(target === 'f-cron' ? 'f-timezone' : 'f-cron', '');
          setFieldError(target, error.message);
          preview.className = 'preview invalid';
          clear(preview).append(h('p', null, 'No preview: ', error.field === 'timezone' ? 'the time zone' : 'the expression',
            ' is not valid yet.'));
        }
      }, PREVIEW_DEBOUNCE_MS);
    };
    cron.addEventListener('input', checkCron);
    timezone.addEventListener('input', checkCron);
    cleanups.push(() => clearTimeout(previewTimer));
    if (cron.value) checkCron();

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      for (const id of new Set(Object.values(FIELD_INPUTS))) setFieldError(id, '');
      summary.hidden = true;
      const problems = [];
      let headers = {};
      try { headers = parseHeaders(header.value); } catch (err) { problems.push(['notifyHTTPParam.header', err.message]); }
      if (!name.value.trim()) problems.push(['name', 'Enter a name.']);
      if (!cron.value.trim()) problems.push(['cron', 'Enter a schedule, e.g. */5 * * * * (every 5 minutes) or rate(5 minutes).']);
      if (!url.value.trim()) problems.push(['notifyHTTPParam.url', 'Enter the URL to call, e.g. https://example.com/hook.']);
      if (problems.length) { showProblems(problems); return; }

      const notifyParam = { url: url.value.trim(), method: method.value, header: headers, body: body.value || null };
      const request = {
        app, name: name.value.trim(), cron: cron.value.trim(), timezone: timezone.value.trim() || 'UTC',
        notifyHTTPParam: notifyParam,
      };
      const options = {
        startAt: startAt.value.trim() || null, endAt: endAt.value.trim() || null,
        maxFires: maxFires.value.trim() ? Number(maxFires.value) : null,
        jitterSeconds: jitter.value.trim() ? Number(jitter.value) : null,
        deleteAfterCompletion: deleteAfter.checked || null,
        misfirePolicy: misfire.value || null,
        catchUpSeconds: catchUp.value.trim() ? Number(catchUp.value) : null,
        overlapPolicy: overlap.value || null,
      };
      for (const [key, value] of Object.entries(options)) {
        if (value !== null || (editing && timer[key] != null && timer[key] !== false)) request[key] = value;
      }
      const number = (input) => (input.value.trim() ? Number(input.value) : null);
      const retryPolicy = {};
      for (const [key, input] of [['maxAttempts', maxAttempts], ['maxAgeSeconds', maxAge],
        ['minBackoffSeconds', minBackoff], ['maxBackoffSeconds', maxBackoff]]) {
        if (number(input) !== null) retryPolicy[key] = number(input);
      }
      if (retryOn.value.trim()) {
        retryPolicy.retryOn = retryOn.value.trim().toLowerCase() === 'none' ? []
          : retryOn.value.split(',').map((entry) => entry.trim()).filter(Boolean);
      }
      const delivery = {
        retryPolicy: Object.keys(retryPolicy).length ? retryPolicy : null,
        timeoutSeconds: number(timeout),
        failureCallback: failureUrl.value.trim()  // headers and body, set through the API, are kept
          ? { ...((timer && timer.failureCallback) || {}), url: failureUrl.value.trim(), method: failureMethod.value } : null,
        pauseAfterFailures: number(pauseAfter),
      };
      for (const [key, value] of Object.entries(delivery)) {
        if (value !== null || (editing && timer[key] != null)) request[key] = value;
      }
      submit.disabled = true;
      try {
        let id;
        if (editing) {
          await api('POST', 'updateTimer', { body: { ...request, id: timer.timerId, version: timer.version } });
          id = timer.timerId;
          toast('“' + request.name + '” is saved.');
        } else {
          if (enable.checked) request.status = ENABLED;
          id = (await api('POST', 'creatTimer', { body: request })).timerId;
          toast('“' + request.name + '” is created' + (enable.checked ? ' and enabled.' : '; it is disabled until you enable it.'));
        }
        go(link.timer(app, id));
      } catch (error) {
        if (view.gen !== generation) return;
        if (AUTH_CODES.has(error.code)) return;
        const problem = error.code === 40901
          ? [null, error.message + ' ', h('a', { href: link.edit(app, timer.timerId), onclick: () => render() }, 'Load the current version')]
          : [error.field, error.message];
        showProblems([problem]);
      } finally {
        submit.disabled = false;
      }
    });

    /** Each problem next to its field (data.field of the API's answer), and all of them in a summary. */
    function showProblems(problems) {
      clear(summary).append(h('p', null, h('strong', null, problems.length === 1 ? 'The timer was not saved:' : 'Fix these first:')));
      const list = h('ul');
      let firstInput = null;
      for (const [fieldName, ...message] of problems) {
        const inputId = FIELD_INPUTS[fieldName];
        const placed = inputId && setFieldError(inputId, message.map((part) => (part instanceof Node ? part.textContent : part)).join(''));
        if (placed && !firstInput) firstInput = document.getElementById(inputId);
        list.append(h('li', null, placed ? h('a', { href: '#' + inputId, onclick: (e) => { e.preventDefault(); document.getElementById(inputId).focus(); } }, message) : message));
      }
      summary.append(list);
      summary.hidden = false;
      (firstInput || summary).focus();
    }
  }

  // --- start ------------------------------------------------------------------------------------------------

  function start() {
    const appInput = $('#app-input');
    const keyInput = $('#key-input');
    keyInput.value = sessionStorage.getItem(KEY_STORE) || '';
    appInput.value = currentApp() || sessionStorage.getItem(APP_STORE) || '';
    const saveKey = () => {
      const key = keyInput.value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
    };
    keyInput.addEventListener('change', saveKey);
    $('#app-form').addEventListener('submit', (event) => {
      event.preventDefault();
      saveKey();
      hideAuthNotice();
      const app = appInput.value.trim();
      if (!app) { appInput.focus(); return; }
      listView.state = null;
      go(link.list(app));
    });
    $('#skip-link').addEventListener('click', (event) => { event.preventDefault(); $('#main').focus(); });
    window.addEventListener('hashchange', render);
    render();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
