// @ts-check
// Groups held by a dead letter, longest blocked first, with a one-click way out.

import { api, listRoutes, query } from './api.js';
import { discardOne, redriveOne } from './message-actions.js';
import { COLUMNS, row, table } from './message-list.js';
import { busy, count, h, plural, reportError } from './ui.js';

/**
 * @import { BlockedGroupPage, MessageSummary, Route } from './api.js'
 * @import { View } from './app.js'
 * @import { Column } from './message-list.js'
 * @typedef {BlockedGroupPage['items'][number]} BlockedGroup
 */

const PAGE = 100;

/**
 * A message's column, showing the message that holds the group.
 * @param {Column<MessageSummary>} column
 * @param {string} [head]
 * @returns {Column<BlockedGroup>}
 */
const heldBy = (column, head) => ({
  ...column,
  head: head || column.head,
  row: false,
  cell: (item) => column.cell(item.heldBy),
});

/** @type {Column<BlockedGroup>} */
const waiting = {
  head: 'Waiting',
  class: 'num',
  headClass: 'num',
  // The API stops counting at a limit: past it, "10,000+".
  cell: (item) =>
    item.waitingCapped
      ? h('span', { title: `More than ${count(item.waiting)} wait` }, `${count(item.waiting)}+`)
      : count(item.waiting),
};

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
        'Routes with fifo ordering never block a group. The groups blocked longest come first.',
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

  /** @param {HTMLButtonElement} button A button of the row, which had the focus. */
  function removeRow(button) {
    const tr = /** @type {HTMLTableRowElement} */ (button.closest('tr'));
    // Put the focus on the next row, or on the heading.
    const next = tr.nextElementSibling || tr.previousElementSibling;
    tr.remove();
    shown -= 1;
    refreshStatus(more.hidden);
    const target = /** @type {HTMLElement} */ (next ? next.querySelector('button') : heading);
    target.focus();
  }

  /** @type {Column<BlockedGroup>} */
  const actions = {
    head: h('span', { class: 'visually-hidden' }, 'Actions'),
    class: 'row-actions',
    cell: (item) => {
      const held = item.heldBy;
      const button = (/** @type {string} */ verb, /** @type {string} */ kind) =>
        h(
          'button',
          {
            type: 'button',
            class: `small ${kind}`,
            'aria-label': `${verb} the message holding group ${item.group}`,
          },
          verb,
        );
      const redrive = button('Redrive', 'primary');
      const discard = button('Discard', 'danger');
      redrive.addEventListener('click', () =>
        redriveOne(
          redrive,
          held.id,
          `Redrove the message holding group ${item.group} of ${route.name}; the group goes on.`,
          () => removeRow(redrive),
        ),
      );
      discard.addEventListener('click', () =>
        discardOne(discard, held.id, {
          title: `Discard the message holding group ${item.group}?`,
          consequence:
            `Message ${held.id} (sequence ${held.sequence}) is deleted for good and never ` +
            `delivered; group ${item.group} of ${route.name} goes on with its next message.`,
          done: `Discarded the message holding group ${item.group} of ${route.name}.`,
          after: () => removeRow(discard),
        }),
      );
      return [redrive, discard];
    },
  };
  /** @type {Column<BlockedGroup>[]} */
  const columns = [
    { head: 'Group', row: true, class: 'mono', cell: (item) => item.group },
    waiting,
    heldBy(COLUMNS.message, 'Held by'),
    heldBy(COLUMNS.sequence),
    heldBy(COLUMNS.attempts),
    heldBy(COLUMNS.deadLettered),
    heldBy(COLUMNS.error),
    actions,
  ];

  async function load() {
    /** @type {BlockedGroupPage} */
    const page = await api(`groups/blocked${query({ route: route.name, limit: PAGE, cursor })}`);
    if (signal.aborted) return;
    body.append(...page.items.map((item) => row(columns, item)));
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
    table(`Blocked groups of ${route.name}`, columns, body),
    h('div', { class: 'table-foot' }, status, more),
  );
}
