// @ts-check
// Lists of messages from the API, a page at a time, under a form of filters kept in the
// page's address. The dead-letter queue and the message browser are both one of these;
// the blocked groups' table is built from the same columns.

import { api, query } from './api.js';
import { MAX_PAGE } from './limits.js';
import { busy, count, h, messageLink, plural, reportError, stateBadge, time } from './ui.js';

/**
 * @import { MessagePage, MessageSummary, Route } from './api.js'
 * @import { Child } from './ui.js'
 */

/**
 * A column of a table: its heading and each item's cell. `row` makes the cell the row's
 * header (what a screen reader names the row by); `class` styles the cells, `headClass`
 * the heading.
 * @template T
 * @typedef {{ head: Child, cell: (item: T) => Child, class?: string, headClass?: string, row?: boolean }} Column
 */

/**
 * A list's filters, by name, as in the page's address: empty when not set.
 * @typedef {Record<string, string>} Filters
 */

/**
 * A filter of a list: its name, its label and its control (the control's id ties the
 * label to it).
 * @typedef {[string, string, HTMLInputElement | HTMLSelectElement]} Field
 */

/** The columns of a message, for every table of messages. */
export const COLUMNS = {
  /** @type {Column<MessageSummary>} */
  message: { head: 'Message', row: true, cell: (m) => messageLink(m.id) },
  /** @type {Column<MessageSummary>} */
  route: { head: 'Route', cell: (m) => m.route },
  /** @type {Column<MessageSummary>} */
  group: { head: 'Group', class: 'mono', cell: (m) => m.group },
  /** @type {Column<MessageSummary>} */
  sequence: { head: 'Sequence', class: 'num', headClass: 'num', cell: (m) => m.sequence },
  /** @type {Column<MessageSummary>} */
  state: { head: 'State', cell: (m) => stateBadge(m.state) },
  /** @type {Column<MessageSummary>} */
  attempts: { head: 'Attempts', class: 'num', headClass: 'num', cell: (m) => count(m.attempts) },
  /** @type {Column<MessageSummary>} */
  received: { head: 'Received', class: 'nowrap', cell: (m) => time(m.receivedAt) },
  /** @type {Column<MessageSummary>} */
  finished: { head: 'Finished', class: 'nowrap', cell: (m) => time(m.finishedAt) },
  /** @type {Column<MessageSummary>} */
  deadLettered: { head: 'Dead-lettered', class: 'nowrap', cell: (m) => time(m.finishedAt) },
  /** @type {Column<MessageSummary>} */
  error: {
    head: 'Error',
    class: 'error-text',
    cell: (m) => [
      m.lastError || '',
      m.deadReason ? h('span', { class: 'sub' }, m.deadReason) : null,
    ],
  },
};

/**
 * A table of items: the headings of the columns, and `body` for their rows.
 * @template T
 * @param {Child} caption What the table holds, for screen readers.
 * @param {Column<T>[]} columns
 * @param {HTMLTableSectionElement} body
 */
export function table(caption, columns, body) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data' },
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((column) => h('th', { scope: 'col', class: column.headClass }, column.head)),
        ),
      ),
      body,
    ),
  );
}

/**
 * One item's row.
 * @template T
 * @param {Column<T>[]} columns
 * @param {T} item
 */
export function row(columns, item) {
  return h(
    'tr',
    {},
    columns.map((column) =>
      h(
        column.row ? 'th' : 'td',
        { scope: column.row ? 'row' : undefined, class: column.class },
        column.cell(item),
      ),
    ),
  );
}

/**
 * The route filter: a list's field of the routes there are.
 * @param {Route[]} routes
 * @returns {Field}
 */
export const routeField = (routes) => [
  'route',
  'Route',
  h(
    'select',
    { id: 'filter-route', name: 'route' },
    h('option', { value: '' }, 'All routes'),
    routes.map((route) => h('option', { value: route.name }, route.name)),
  ),
];

/** @returns {Field} The group filter. */
export const groupField = () => [
  'group',
  'Group',
  h('input', { id: 'filter-group', name: 'group', autocomplete: 'off', spellcheck: 'false' }),
];

const field = (/** @type {string} */ label, /** @type {HTMLElement} */ control) =>
  h('div', { class: 'field' }, h('label', { for: control.id }, label), control);

// A page of the list shows at least SHOW_AT_LEAST messages when there are that many.
// Filters of the page's own (inPage) are applied over the API's pages of FETCH_LIMIT,
// and one "load" stops after SCAN_LIMIT messages even when few of them match, so a rare
// error text never makes the page walk a huge queue in one go.
const SHOW_AT_LEAST = 100;
const FETCH_LIMIT = 500;
const SCAN_LIMIT = 5000;

/**
 * What a list of messages is.
 * @typedef {object} ListOptions
 * @property {string} path The page's address, '#/dead': its filters follow it.
 * @property {string} noun One item, 'dead letter'; the list holds them ('dead letters').
 * @property {Field[]} fields The filters, in the form's order.
 * @property {(filters: Filters) => Record<string, string | undefined>} apiQuery The
 *   filters the API applies, as its query parameters.
 * @property {(filters: Filters) => ((message: MessageSummary) => boolean) | null} [inPage]
 *   The filters the API does not have, applied here over its pages; null when none is set.
 * @property {Column<MessageSummary>[]} columns
 * @property {string} none What the list says when it holds nothing at all.
 * @property {() => void} [onReload] Told when the list starts again from its first page.
 * @property {() => void} [onShow] Told whenever the rows shown change.
 */

/**
 * A list of messages: the filter form, the table and its foot, to be placed by the
 * view; the rows come with reload().
 * @param {ListOptions} options
 * @param {URLSearchParams} params The page's address parameters: the filters set.
 * @param {AbortSignal} signal Aborted when the view is replaced: late pages are dropped.
 */
export function messageList(options, params, signal) {
  const { path, noun, fields, apiQuery, columns } = options;
  const inPage = options.inPage || (() => null);
  /** @type {Filters} */
  let filters = Object.fromEntries(fields.map(([name]) => [name, (params.get(name) || '').trim()]));

  const showFilters = () => {
    for (const [name, , control] of fields) control.value = filters[name] || '';
  };
  showFilters();
  /** @param {Filters} next */
  function applyFilters(next) {
    filters = next;
    showFilters();
    // replaceState, not a hash change: the page stays, and so does the focus.
    history.replaceState(null, '', path + query(filters));
    reload();
  }
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': `Filter ${noun}s`,
      onsubmit: (/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        applyFilters(
          Object.fromEntries(fields.map(([name, , control]) => [name, control.value.trim()])),
        );
      },
    },
    fields.map(([, label, control]) => field(label, control)),
    h(
      'div',
      { class: 'field-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h(
        'button',
        {
          type: 'button',
          onclick: () => applyFilters(Object.fromEntries(fields.map(([name]) => [name, '']))),
        },
        'Clear',
      ),
    ),
  );

  const body = h('tbody');
  const status = h('p', { class: 'meta', 'aria-live': 'polite' });
  const loadMoreButton = h('button', { type: 'button', hidden: true }, 'Load more');
  loadMoreButton.addEventListener('click', () =>
    busy(loadMoreButton, async () => {
      try {
        await loadMore(generation);
      } catch (error) {
        reportError(`Could not load more ${noun}s`, error);
      }
    }),
  );

  /** @type {MessageSummary[]} */
  let items = [];
  /** @type {string | null} */
  let cursor = null;
  let done = false;
  // A reload started while an older one runs makes the older one's answers stale.
  let generation = 0;

  function showRows() {
    if (items.length === 0) {
      const filtered = Object.values(filters).some(Boolean);
      body.replaceChildren(
        h(
          'tr',
          {},
          h(
            'td',
            { colspan: columns.length, class: 'empty' },
            !done
              ? `No match yet among the ${noun}s scanned.`
              : filtered
                ? `No ${noun} matches these filters.`
                : options.none,
          ),
        ),
      );
    } else {
      body.replaceChildren(...items.map((item) => row(columns, item)));
    }
    status.textContent = `Showing ${plural(items.length, noun)}${done ? '.' : '; there may be more.'}`;
    loadMoreButton.hidden = done;
    if (options.onShow) options.onShow();
  }

  /**
   * @param {number} limit
   * @param {string | null} after The cursor of the page before.
   * @returns {Promise<MessagePage>}
   */
  const fetchPage = (limit, after) =>
    api(`messages${query({ ...apiQuery(filters), limit, cursor: after })}`);

  /** @param {number} mine The generation of the reload this belongs to. */
  async function loadMore(mine) {
    const matches = inPage(filters);
    let added = 0;
    let scanned = 0;
    while (!done && added < SHOW_AT_LEAST && scanned < SCAN_LIMIT) {
      // Without filters of its own, the page shows what the API sends.
      const page = await fetchPage(matches ? FETCH_LIMIT : SHOW_AT_LEAST, cursor);
      if (signal.aborted || mine !== generation) return;
      scanned += page.items.length;
      for (const message of page.items) {
        if (!matches || matches(message)) {
          items.push(message);
          added += 1;
        }
      }
      cursor = page.nextCursor;
      done = cursor === null;
    }
    showRows();
  }

  async function reload() {
    generation += 1;
    const mine = generation;
    items = [];
    cursor = null;
    done = false;
    if (options.onReload) options.onReload();
    status.textContent = 'Loading…';
    try {
      await loadMore(mine);
    } catch (error) {
      if (!signal.aborted) reportError(`Could not load the ${noun}s`, error);
    }
  }

  return {
    form,
    table: table(`${noun[0]?.toUpperCase()}${noun.slice(1)}s`, columns, body),
    foot: h('div', { class: 'table-foot' }, status, loadMoreButton),
    reload,
    /** Draw the rows again, as they are now (a selection changed). */
    redraw: showRows,
    filters: () => filters,
    items: () => items,
    /** Whether every page was loaded and none of them held a match. */
    empty: () => done && items.length === 0,
    /** Whether filters of the page's own are set: the API cannot apply them. */
    filteredInPage: () => inPage(filters) !== null,
    /**
     * Every message matching the filters, walking all pages of the API.
     * @param {(text: string) => void} label Shows how many were found so far.
     */
    async all(label) {
      const matches = inPage(filters);
      /** @type {MessageSummary[]} */
      const found = [];
      /** @type {string | null} */
      let next = null;
      do {
        const page = await fetchPage(MAX_PAGE, next);
        for (const message of page.items) if (!matches || matches(message)) found.push(message);
        next = page.nextCursor;
        label(`Counting… ${count(found.length)}`);
      } while (next !== null);
      return found;
    },
  };
}
