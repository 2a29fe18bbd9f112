// @ts-check
// The overview: every route's queue at a glance, refreshed live.

import { api, listRoutes } from './api.js';
import { badge, busy, count, duration, h, notify, plural, reportError, time } from './ui.js';

/**
 * @import { PauseState, RetryNowResult, Route } from './api.js'
 * @import { View } from './app.js'
 */

/**
 * A route's rows in the table, kept from one refresh to the next.
 * @typedef {object} RouteRow
 * @property {HTMLTableRowElement} row
 * @property {HTMLTableRowElement} outageRow The line under the row while the target is down.
 * @property {HTMLTableCellElement} outage
 * @property {Record<'state' | 'queued' | 'inflight' | 'delivered' | 'dead' | 'blocked' | 'oldest' | 'rate', HTMLTableCellElement>} cells
 * @property {HTMLButtonElement} toggle
 * @property {boolean | undefined} paused
 * @property {boolean} down
 */

/**
 * The delivered count of every route at one refresh.
 * @typedef {{ at: number, delivered: Map<string, number> }} Sample
 */

const REFRESH_MS = 2000;
// The rate is measured over the last ten seconds of refreshes rather than the last
// two, so that a batch landing between two refreshes does not make it jump.
const RATE_WINDOW_MS = 10000;

const numeric = (/** @type {string} */ label) => h('th', { scope: 'col', class: 'num' }, label);

/**
 * Replace a cell's content only when it changed, so a focused link in it keeps the focus.
 * @param {HTMLElement} cell
 * @param {string} key What the content shows.
 * @param {() => Node | string} build
 */
function set(cell, key, build) {
  if (cell.dataset.key === key) return;
  cell.dataset.key = key;
  cell.replaceChildren(build());
}

const linkedCount = (/** @type {number} */ n, /** @type {string} */ href) =>
  n > 0 ? h('a', { href }, count(n)) : count(n);

/** Whole seconds from now until an ISO time (negative: it has passed). */
const secondsUntil = (/** @type {string} */ iso) =>
  Math.round((Date.parse(iso) - Date.now()) / 1000);

/**
 * What a route is doing, as the API says it. Stuck is bad when the target is down (the
 * application is away) and a warning when only dead letters hold the groups.
 * @param {Route} route
 */
function routeBadge(route) {
  if (route.state !== 'stuck') {
    /** @type {Record<string, string>} */
    const kinds = { delivering: 'good', paused: 'warn' };
    return badge(route.state, kinds[route.state]);
  }
  if (route.health.state === 'down') return badge('stuck', 'bad');
  const held = badge('stuck', 'warn');
  held.title = 'Every waiting message sits behind a dead letter of its group.';
  return held;
}

/**
 * When hookq looks at a down target again. A probe is a waiting message's attempt.
 * @param {Route} route
 */
function nextProbe(route) {
  if (route.paused) return 'No probe while paused.';
  if (route.queued === 0) return 'The next message is the probe.';
  if (!route.health.nextProbeAt) return 'No probe scheduled.';
  const wait = secondsUntil(route.health.nextProbeAt);
  return wait < 1 ? 'Next probe now.' : `Next probe in ${duration(wait)}.`;
}

/**
 * The line under a route whose target is down: since when, why and what next. It spans
 * the table, so an error text does not squeeze the counts.
 * @param {Route} route
 */
function outageParts(route) {
  const health = route.health;
  return [
    h('span', { class: 'visually-hidden' }, `${route.name}: `),
    h(
      'strong',
      {},
      health.since ? `Target down for ${duration(-secondsUntil(health.since))}` : 'Target down',
    ),
    health.lastError ? [' · ', h('span', { class: 'error-text' }, health.lastError)] : null,
    ' · ',
    h('span', { class: 'muted' }, nextProbe(route)),
  ];
}

/**
 * Under the dead-letter count, why the newest one died, so that a failing application is
 * seen from the overview without opening a message.
 * @param {Route} route
 */
function lastDeadLetter(route) {
  const last = route.lastDeadLetter;
  if (!last || route.deadLetter === 0) return null;
  const error = last.error || 'no error recorded';
  return h(
    'span',
    {
      class: 'sub error-text last-error',
      title: `Newest dead letter, ${time(last.at).textContent}: ${error}`,
    },
    error.length > 40 ? `${error.slice(0, 39)}…` : error,
  );
}

/** What the outage line shows, to the second, so it is rebuilt only when that changes. */
const outageKey = (/** @type {Route} */ route) =>
  [
    route.health.since && secondsUntil(route.health.since),
    route.health.lastError,
    nextProbe(route),
  ].join('|');

/** @type {View} */
export const overview = {
  title: () => 'Overview',
  async render(root, { signal }) {
    const updated = h('span', {}, 'Loading…');
    const totals = h('dl', { class: 'totals' });
    const body = h('tbody');
    root.append(
      h('p', { class: 'meta' }, 'Refreshes every two seconds. ', updated),
      totals,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data' },
          h('caption', { class: 'visually-hidden' }, 'Routes and their queues'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Route'),
              h('th', { scope: 'col' }, 'Deliveries'),
              numeric('Queued'),
              numeric('In flight'),
              numeric('Delivered'),
              numeric('Dead letters'),
              numeric('Blocked groups'),
              numeric('Oldest waiting'),
              numeric('Delivery rate'),
              h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          body,
        ),
      ),
    );

    /** @type {Map<string, RouteRow>} */
    const rows = new Map();
    /** @type {Sample[]} */
    const samples = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    /** @type {Promise<void> | undefined} */
    let running;
    signal.addEventListener('abort', () => clearTimeout(timer));

    /** @param {string} name */
    function rate(name) {
      if (samples.length < 2) return null;
      const first = /** @type {Sample} */ (samples[0]);
      const last = /** @type {Sample} */ (samples[samples.length - 1]);
      const seconds = (last.at - first.at) / 1000;
      // Retention deletes delivered messages, which lowers the count: never a negative rate.
      const delivered = (last.delivered.get(name) ?? 0) - (first.delivered.get(name) ?? 0);
      return seconds > 0 ? Math.max(0, delivered) / seconds : null;
    }

    /**
     * @param {Route} route
     * @returns {RouteRow}
     */
    function rowFor(route) {
      const cells = {
        state: h('td'),
        queued: h('td', { class: 'num' }),
        inflight: h('td', { class: 'num' }),
        delivered: h('td', { class: 'num' }),
        dead: h('td', { class: 'num' }),
        blocked: h('td', { class: 'num' }),
        oldest: h('td', { class: 'num' }),
        rate: h('td', { class: 'num' }),
      };
      const toggle = h('button', { type: 'button', class: 'small' });
      toggle.addEventListener('click', () => togglePause(route.name, toggle));
      const retry = h(
        'button',
        {
          type: 'button',
          class: 'small',
          'aria-label': `Retry the waiting messages of ${route.name} now`,
          title:
            'Send the waiting messages now instead of after their backoff; a down target is probed now. No attempt is charged.',
        },
        'Retry now',
      );
      retry.addEventListener('click', () => retryNow(route.name, retry));
      const row = h(
        'tr',
        {},
        h(
          'th',
          { scope: 'row' },
          h('span', { class: 'route-name' }, route.name),
          h('span', { class: 'sub mono' }, route.path),
          h('span', { class: 'sub mono target' }, `→ ${route.target}`),
        ),
        cells.state,
        cells.queued,
        cells.inflight,
        cells.delivered,
        cells.dead,
        cells.blocked,
        cells.oldest,
        cells.rate,
        h('td', { class: 'row-actions route-actions' }, retry, toggle),
      );
      const outage = h('td', { colspan: 10 });
      // In the table only while the target is down, right under the route's row.
      const outageRow = h(
        'tr',
        { class: 'outage-row target-down', 'data-outage-of': route.name },
        outage,
      );
      return { row, outageRow, outage, cells, toggle, paused: undefined, down: false };
    }

    /**
     * @param {RouteRow} entry
     * @param {Route} route
     */
    function update(entry, route) {
      const { cells, toggle } = entry;
      const name = encodeURIComponent(route.name);
      entry.paused = route.paused;
      entry.down = route.health.state === 'down';
      entry.row.classList.toggle('target-down', entry.down);
      set(cells.state, `${route.state}|${route.health.state}`, () => routeBadge(route));
      if (entry.down) {
        if (!entry.outageRow.isConnected) entry.row.after(entry.outageRow);
        set(entry.outage, outageKey(route), () => h('span', {}, outageParts(route)));
      } else {
        entry.outageRow.remove();
      }
      // Each count opens the messages it counts.
      for (const state of /** @type {const} */ (['queued', 'inflight', 'delivered'])) {
        set(cells[state], String(route[state]), () =>
          linkedCount(route[state], `#/messages?route=${name}&state=${state}`),
        );
      }
      set(cells.dead, `${route.deadLetter}|${route.lastDeadLetter?.at}`, () =>
        h('span', {}, linkedCount(route.deadLetter, `#/dead?route=${name}`), lastDeadLetter(route)),
      );
      set(cells.blocked, String(route.blockedGroups), () =>
        route.ordering === 'fifo'
          ? h('span', { class: 'muted', title: 'fifo routes never block a group' }, 'n/a')
          : linkedCount(route.blockedGroups, `#/blocked?route=${name}`),
      );
      const age = route.oldestAgeSeconds > 0 ? duration(route.oldestAgeSeconds) : '—';
      set(cells.oldest, age, () => age);
      const perSecond = rate(route.name);
      const shown = perSecond === null ? '—' : `${perSecond.toFixed(perSecond < 10 ? 1 : 0)} /s`;
      set(cells.rate, shown, () => shown);
      toggle.textContent = route.paused ? 'Resume' : 'Pause';
      toggle.setAttribute(
        'aria-label',
        (route.paused ? 'Resume deliveries of ' : 'Pause deliveries of ') + route.name,
      );
    }

    /** @param {Route[]} routes */
    function renderTotals(routes) {
      /** @param {'queued' | 'inflight' | 'delivered' | 'deadLetter' | 'blockedGroups'} field */
      const sum = (field) => routes.reduce((total, route) => total + route[field], 0);
      /**
       * Each tile's label, total, and whether a total above 0 needs the operator.
       * @type {Array<[string, number, boolean]>}
       */
      const tiles = [
        ['Queued', sum('queued'), false],
        ['In flight', sum('inflight'), false],
        ['Delivered', sum('delivered'), false],
        ['Dead letters', sum('deadLetter'), true],
        ['Blocked groups', sum('blockedGroups'), true],
      ];
      const key = tiles.map((tile) => tile[1]).join(',');
      if (totals.dataset.key === key) return;
      totals.dataset.key = key;
      totals.replaceChildren(
        ...tiles.map(([label, value, alerting]) =>
          h(
            'div',
            { class: `tile${alerting && value > 0 ? ' alert' : ''}` },
            h('dt', {}, label),
            h('dd', {}, count(value)),
          ),
        ),
      );
    }

    async function refresh() {
      try {
        const routes = await listRoutes();
        if (signal.aborted) return;
        const at = Date.now();
        samples.push({
          at,
          delivered: new Map(routes.map((route) => [route.name, route.delivered])),
        });
        while (samples.length > 2 && at - /** @type {Sample} */ (samples[0]).at > RATE_WINDOW_MS)
          samples.shift();
        renderTotals(routes);
        const names = new Set(routes.map((route) => route.name));
        for (const [name, entry] of rows) {
          if (!names.has(name)) {
            entry.row.remove();
            entry.outageRow.remove();
            rows.delete(name);
          }
        }
        for (const route of routes) {
          let entry = rows.get(route.name);
          if (!entry) {
            entry = rowFor(route);
            rows.set(route.name, entry);
            body.append(entry.row);
          }
          update(entry, route);
        }
        updated.replaceChildren('Updated at ', time(new Date(at).toISOString()), '.');
      } catch (error) {
        if (signal.aborted) return;
        reportError('Could not refresh the overview', error);
        updated.textContent = 'The last refresh failed; trying again.';
      }
    }

    /** Refresh now, or right after the refresh under way; then every REFRESH_MS. */
    function refreshSoon() {
      clearTimeout(timer);
      running ??= refresh().finally(() => {
        running = undefined;
        if (!signal.aborted) timer = setTimeout(refreshSoon, REFRESH_MS);
      });
      return running;
    }

    /**
     * @param {string} name
     * @param {HTMLButtonElement} button
     */
    async function togglePause(name, button) {
      const entry = /** @type {RouteRow} */ (rows.get(name));
      const pause = !entry.paused;
      await busy(button, async () => {
        try {
          /** @type {PauseState} */
          const answer = await api(
            `routes/${encodeURIComponent(name)}/${pause ? 'pause' : 'resume'}`,
            { method: 'POST' },
          );
          entry.paused = answer.paused;
          notify(
            answer.paused
              ? `Paused ${name}: deliveries stop; webhooks are still accepted and queued.`
              : `Resumed ${name}: deliveries go on.`,
            'success',
          );
        } catch (error) {
          reportError(`Could not ${pause ? 'pause ' : 'resume '}${name}`, error);
        }
      });
      await refreshSoon();
    }

    /**
     * @param {string} name
     * @param {HTMLButtonElement} button
     */
    async function retryNow(name, button) {
      const entry = /** @type {RouteRow} */ (rows.get(name));
      await busy(button, async () => {
        try {
          /** @type {RetryNowResult} */
          const answer = await api(`routes/${encodeURIComponent(name)}/retry-now`, {
            method: 'POST',
            body: {},
          });
          notify(
            'Retry now on ' +
              name +
              ': ' +
              plural(answer.due, 'waiting message') +
              ' made due' +
              (entry.down ? '; the target is down, so the next probe goes now.' : '.'),
            'success',
          );
        } catch (error) {
          reportError(`Could not retry ${name} now`, error);
        }
      });
      await refreshSoon();
    }

    await refreshSoon();
  },
};
