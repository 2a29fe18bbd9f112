/** Browser module: the overview, every route's queue at a glance, refreshed live. */
// biome-ignore lint/complexity/noUselessStringRaw: all console files are raw strings, so a backslash added later reaches the browser as written.
export const overviewJs = String.raw`
import { api, listRoutes } from './api.js';
import { badge, busy, count, duration, h, localTime, notify, plural, reportError } from './ui.js';

const REFRESH_MS = 2000;
// The rate is measured over the last ten seconds of refreshes rather than the last
// two, so that a batch landing between two refreshes does not make it jump.
const RATE_WINDOW_MS = 10000;

const numeric = (label) => h('th', { scope: 'col', class: 'num' }, label);

/** Replace a cell's content only when it changed, so a focused link in it keeps the focus. */
function set(cell, key, build) {
  if (cell.dataset.key === key) return;
  cell.dataset.key = key;
  cell.replaceChildren(build());
}

const linkedCount = (n, href) => (n > 0 ? h('a', { href }, count(n)) : count(n));

/** Whole seconds from now until an ISO time (negative: it has passed). */
const secondsUntil = (iso) => Math.round((Date.parse(iso) - Date.now()) / 1000);

/**
 * What a route is doing, as the API says it. Stuck is bad when the target is down (the
 * application is away) and a warning when only dead letters hold the groups.
 */
function routeBadge(route) {
  if (route.state !== 'stuck') {
    return badge(route.state, { delivering: 'good', paused: 'warn' }[route.state]);
  }
  if (route.health.state === 'down') return badge('stuck', 'bad');
  const held = badge('stuck', 'warn');
  held.title = 'Every waiting message sits behind a dead letter of its group.';
  return held;
}

/** When hookq looks at a down target again. A probe is a waiting message's attempt. */
function nextProbe(route) {
  if (route.paused) return 'No probe while paused.';
  if (route.queued === 0) return 'The next message is the probe.';
  if (!route.health.nextProbeAt) return 'No probe scheduled.';
  const wait = secondsUntil(route.health.nextProbeAt);
  return wait < 1 ? 'Next probe now.' : 'Next probe in ' + duration(wait) + '.';
}

/**
 * The line under a route whose target is down: since when, why and what next. It spans
 * the table, so an error text does not squeeze the counts.
 */
function outageParts(route) {
  const health = route.health;
  return [
    h('span', { class: 'visually-hidden' }, route.name + ': '),
    h(
      'strong',
      {},
      health.since ? 'Target down for ' + duration(-secondsUntil(health.since)) : 'Target down',
    ),
    health.lastError ? [' · ', h('span', { class: 'error-text' }, health.lastError)] : null,
    ' · ',
    h('span', { class: 'muted' }, nextProbe(route)),
  ];
}

/** What the outage line shows, to the second, so it is rebuilt only when that changes. */
const outageKey = (route) =>
  [
    route.health.since && secondsUntil(route.health.since),
    route.health.lastError,
    nextProbe(route),
  ].join('|');

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

    const rows = new Map();
    const samples = [];
    let timer;
    let running;
    signal.addEventListener('abort', () => clearTimeout(timer));

    function rate(name) {
      if (samples.length < 2) return null;
      const first = samples[0];
      const last = samples[samples.length - 1];
      const seconds = (last.at - first.at) / 1000;
      // Retention deletes delivered messages, which lowers the count: never a negative rate.
      const delivered = (last.delivered.get(name) ?? 0) - (first.delivered.get(name) ?? 0);
      return seconds > 0 ? Math.max(0, delivered) / seconds : null;
    }

    function rowFor(route) {
      const cells = {
        state: h('td'),
        queued: h('td', { class: 'num' }),
        inflight: h('td', { class: 'num' }),
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
          'aria-label': 'Retry the waiting messages of ' + route.name + ' now',
          title: 'Send the waiting messages now instead of after their backoff; a down target is probed now. No attempt is charged.',
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
          h('span', { class: 'sub mono target' }, '→ ' + route.target),
        ),
        cells.state,
        cells.queued,
        cells.inflight,
        cells.dead,
        cells.blocked,
        cells.oldest,
        cells.rate,
        h('td', { class: 'row-actions route-actions' }, retry, toggle),
      );
      const outage = h('td', { colspan: 9 });
      // In the table only while the target is down, right under the route's row.
      const outageRow = h(
        'tr',
        { class: 'outage-row target-down', 'data-outage-of': route.name },
        outage,
      );
      return { row, outageRow, outage, cells, toggle, paused: undefined, down: false };
    }

    function update(entry, route) {
      const { cells, toggle } = entry;
      const name = encodeURIComponent(route.name);
      entry.paused = route.paused;
      entry.down = route.health.state === 'down';
      entry.row.classList.toggle('target-down', entry.down);
      set(cells.state, route.state + '|' + route.health.state, () => routeBadge(route));
      if (entry.down) {
        if (!entry.outageRow.isConnected) entry.row.after(entry.outageRow);
        set(entry.outage, outageKey(route), () => h('span', {}, outageParts(route)));
      } else {
        entry.outageRow.remove();
      }
      set(cells.queued, String(route.queued), () => count(route.queued));
      set(cells.inflight, String(route.inflight), () => count(route.inflight));
      set(cells.dead, String(route.deadLetter), () =>
        linkedCount(route.deadLetter, '#/dead?route=' + name),
      );
      set(cells.blocked, String(route.blockedGroups), () =>
        route.ordering === 'fifo'
          ? h('span', { class: 'muted', title: 'fifo routes never block a group' }, 'n/a')
          : linkedCount(route.blockedGroups, '#/blocked?route=' + name),
      );
      const age = route.oldestAgeSeconds > 0 ? duration(route.oldestAgeSeconds) : '—';
      set(cells.oldest, age, () => age);
      const perSecond = rate(route.name);
      const shown = perSecond === null ? '—' : perSecond.toFixed(perSecond < 10 ? 1 : 0) + ' /s';
      set(cells.rate, shown, () => shown);
      toggle.textContent = route.paused ? 'Resume' : 'Pause';
      toggle.setAttribute(
        'aria-label',
        (route.paused ? 'Resume deliveries of ' : 'Pause deliveries of ') + route.name,
      );
    }

    function renderTotals(routes) {
      const sum = (field) => routes.reduce((total, route) => total + route[field], 0);
      const tiles = [
        ['Queued', sum('queued')],
        ['In flight', sum('inflight')],
        ['Dead letters', sum('deadLetter')],
        ['Blocked groups', sum('blockedGroups')],
      ];
      const key = tiles.map((tile) => tile[1]).join(',');
      if (totals.dataset.key === key) return;
      totals.dataset.key = key;
      totals.replaceChildren(
        ...tiles.map(([label, value]) =>
          h(
            'div',
            {
              class:
                'tile' + (value > 0 && label !== 'Queued' && label !== 'In flight' ? ' alert' : ''),
            },
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
        while (samples.length > 2 && at - samples[0].at > RATE_WINDOW_MS) samples.shift();
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
        updated.textContent = 'Updated at ' + localTime(new Date(at).toISOString()).slice(11) + '.';
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

    async function togglePause(name, button) {
      const entry = rows.get(name);
      const pause = !entry.paused;
      await busy(button, async () => {
        try {
          const answer = await api(
            'routes/' + encodeURIComponent(name) + '/' + (pause ? 'pause' : 'resume'),
            { method: 'POST' },
          );
          entry.paused = answer.paused;
          notify(
            answer.paused
              ? 'Paused ' + name + ': deliveries stop; webhooks are still accepted and queued.'
              : 'Resumed ' + name + ': deliveries go on.',
            'success',
          );
        } catch (error) {
          reportError('Could not ' + (pause ? 'pause ' : 'resume ') + name, error);
        }
      });
      await refreshSoon();
    }

    async function retryNow(name, button) {
      const entry = rows.get(name);
      await busy(button, async () => {
        try {
          const answer = await api('routes/' + encodeURIComponent(name) + '/retry-now', {
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
          reportError('Could not retry ' + name + ' now', error);
        }
      });
      await refreshSoon();
    }

    await refreshSoon();
  },
};
`;
