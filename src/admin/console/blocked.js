// @ts-check
// Groups held by a dead letter, with a one-click way out.

import { api, listRoutes, messagePath, query, redriveIds } from './api.js';
import {
  busy,
  confirmAction,
  count,
  h,
  messageLink,
  notify,
  plural,
  reportError,
  time,
} from './ui.js';

/**
 * @import { BlockedGroupPage, Route } from './api.js'
 * @import { View } from './app.js'
 * @typedef {BlockedGroupPage['items'][number]} BlockedGroup
 */

const PAGE = 100;

/** @type {View} */
export const blockedGroups = {
  title: () => 'Blocked groups',
  async render(root, { params, signal }) {
    const wanted = params.get('route') || '';
    const routes = await listRoutes();
    if (signal.aborted) return;
    const strict = routes.filter((route) => route.ordering === 'strict');

    const select = h(
      'select',
      { id: 'blocked-route', name: 'route', value: wanted },
      h('option', { value: '' }, 'All strict routes'),
      strict.map((route) => h('option', { value: route.name }, route.name)),
    );
    root.append(
      h(
        'p',
        { class: 'intro' },
        'In strict ordering, a dead letter holds its group: later messages of the group wait until it is redriven or discarded. ',
        'Routes with fifo ordering never block a group.',
      ),
      h(
        'form',
        {
          class: 'filters',
          role: 'search',
          'aria-label': 'Choose a route',
          onsubmit: (/** @type {SubmitEvent} */ event) => {
            event.preventDefault();
            location.hash = `#/blocked${query({ route: select.value })}`;
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'blocked-route' }, 'Route'), select),
        h('div', { class: 'field-actions' }, h('button', { type: 'submit' }, 'Show')),
      ),
    );

    const shown = strict.filter((route) =>
      wanted ? route.name === wanted : route.blockedGroups > 0,
    );
    if (shown.length === 0) {
      root.append(
        h(
          'p',
          { class: 'empty-state' },
          strict.length === 0
            ? 'No route uses strict ordering, so no group can be blocked.'
            : wanted
              ? `No strict route is named ${wanted}.`
              : 'No group is blocked.',
        ),
      );
      return;
    }
    for (const route of shown) {
      if (signal.aborted) return;
      root.append(await routeSection(route, signal));
    }
  },
};

/**
 * One route's blocked groups, a page at a time.
 * @param {Route} route
 * @param {AbortSignal} signal
 */
async function routeSection(route, signal) {
  const headingId = `blocked-${route.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const heading = h('h2', { id: headingId, tabindex: -1 }, route.name);
  const body = h('tbody');
  const status = h('p', { class: 'meta', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  /** @type {string | undefined} */
  let cursor;
  let shown = 0;

  /** @param {HTMLElement['hidden']} done Whether all are shown: Load more is hidden. */
  function refreshStatus(done) {
    status.textContent =
      shown === 0
        ? `No group of ${route.name} is blocked.`
        : `Showing ${plural(shown, 'blocked group')}${done ? '.' : '; there are more.'}`;
  }

  /** @param {HTMLTableRowElement} row */
  function removeRow(row) {
    // The focus was on the row's button: put it on the next row, or on the heading.
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    shown -= 1;
    refreshStatus(more.hidden);
    const target = /** @type {HTMLElement} */ (next ? next.querySelector('button') : heading);
    target.focus();
  }

  /** @param {BlockedGroup} item */
  function row(item) {
    const held = item.heldBy;
    const redrive = h(
      'button',
      {
        type: 'button',
        class: 'small primary',
        'aria-label': `Redrive the message holding group ${item.group}`,
      },
      'Redrive',
    );
    const discard = h(
      'button',
      {
        type: 'button',
        class: 'small danger',
        'aria-label': `Discard the message holding group ${item.group}`,
      },
      'Discard',
    );
    const tr = h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'mono' }, item.group),
      h('td', {}, messageLink(held.id)),
      h('td', { class: 'num' }, held.sequence),
      h('td', { class: 'num' }, count(held.attempts)),
      h('td', { class: 'nowrap' }, time(held.finishedAt)),
      h(
        'td',
        { class: 'error-text' },
        held.lastError || '',
        held.deadReason ? h('span', { class: 'sub' }, held.deadReason) : null,
      ),
      h('td', { class: 'row-actions' }, redrive, discard),
    );
    redrive.addEventListener('click', () =>
      busy(redrive, async () => {
        try {
          await redriveIds([held.id]);
          notify(
            'Redrove the message holding group ' +
              item.group +
              ' of ' +
              route.name +
              '; the group goes on.',
            'success',
          );
          removeRow(tr);
        } catch (error) {
          reportError('Redrive failed', error);
        }
      }),
    );
    discard.addEventListener('click', async () => {
      // Discarding loses the message for good: the one action here that asks first.
      const ok = await confirmAction({
        title: `Discard the message holding group ${item.group}?`,
        description: h(
          'p',
          {},
          'Message ' +
            held.id +
            ' (sequence ' +
            held.sequence +
            ') is deleted for good and never delivered; ' +
            'group ' +
            item.group +
            ' of ' +
            route.name +
            ' goes on with its next message.',
        ),
        confirm: 'Discard 1 dead letter',
        danger: true,
      });
      if (!ok) return;
      await busy(discard, async () => {
        try {
          await api(messagePath(held.id), { method: 'DELETE' });
          notify(`Discarded the message holding group ${item.group} of ${route.name}.`, 'success');
          removeRow(tr);
        } catch (error) {
          reportError('Discard failed', error);
        }
      });
    });
    return tr;
  }

  async function load() {
    /** @type {BlockedGroupPage} */
    const page = await api(`groups/blocked${query({ route: route.name, limit: PAGE, cursor })}`);
    if (signal.aborted) return;
    body.append(...page.items.map(row));
    shown += page.items.length;
    cursor = page.nextCursor || undefined;
    more.hidden = page.nextCursor === null;
    refreshStatus(more.hidden);
  }
  more.addEventListener('click', () =>
    busy(more, async () => {
      try {
        await load();
      } catch (error) {
        reportError('Could not load more blocked groups', error);
      }
    }),
  );
  await load();

  return h(
    'section',
    { class: 'route-section', 'aria-labelledby': headingId },
    heading,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'data', 'aria-labelledby': headingId },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Group'),
            h('th', { scope: 'col' }, 'Held by'),
            h('th', { scope: 'col', class: 'num' }, 'Sequence'),
            h('th', { scope: 'col', class: 'num' }, 'Attempts'),
            h('th', { scope: 'col' }, 'Dead-lettered'),
            h('th', { scope: 'col' }, 'Error'),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
          ),
        ),
        body,
      ),
    ),
    h('div', { class: 'table-foot' }, status, more),
  );
}
