// @ts-check
// The dead-letter queue, filtered, with redrive and discard.

import { api, discardIds, listRoutes, query, redriveIds } from './api.js';
import { MAX_PAGE } from './limits.js';
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

// The API filters by route and group; time and error text are filtered here, over the
// pages it returns. A page of the API is scanned in steps, and one "load" stops after
// SCAN_LIMIT dead letters even when few of them match, so a rare error text never
// makes the page walk a huge queue in one go.
/**
 * @import { MessagePage, MessageSummary, RedriveResult } from './api.js'
 * @import { View } from './app.js'
 */

/**
 * The page's filters, as in its hash: empty when not set.
 * @typedef {{ route: string, group: string, since: string, error: string }} Filters
 */

const FETCH_LIMIT = 500;
const SHOW_AT_LEAST = 100;
const SCAN_LIMIT = 5000;

/** @type {Array<keyof Filters>} */
const FILTERS = ['route', 'group', 'since', 'error'];

/**
 * @param {URLSearchParams} params
 * @returns {Filters}
 */
function readFilters(params) {
  return /** @type {Filters} */ (
    Object.fromEntries(FILTERS.map((name) => [name, (params.get(name) || '').trim()]))
  );
}

/** Filters the API cannot apply. */
const needsScan = (/** @type {Filters} */ filters) => filters.since !== '' || filters.error !== '';

/**
 * @param {Filters} filters
 * @returns {(message: MessageSummary) => boolean}
 */
function matcher(filters) {
  // datetime-local values have no zone: Date reads them as the operator's local time.
  const since = filters.since ? new Date(filters.since).getTime() : null;
  const needle = filters.error.toLowerCase();
  return (message) => {
    if (
      since !== null &&
      !Number.isNaN(since) &&
      Date.parse(/** @type {string} */ (message.finishedAt)) < since
    )
      return false;
    if (needle) {
      const text = `${message.lastError || ''}\n${message.deadReason || ''}`.toLowerCase();
      if (!text.includes(needle)) return false;
    }
    return true;
  };
}

/** @param {Filters} filters */
function describe(filters) {
  const parts = [];
  if (filters.route) parts.push(`route ${filters.route}`);
  if (filters.group) parts.push(`group ${filters.group}`);
  if (filters.since) parts.push(`dead-lettered since ${filters.since.replace('T', ' ')}`);
  if (filters.error) parts.push(`error containing "${filters.error}"`);
  return parts.length ? parts.join(', ') : 'every route';
}

/**
 * "3 of orders, 2 of invoices": what a set of dead letters holds, for a confirmation.
 * @param {MessageSummary[]} messages
 */
function byRoute(messages) {
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const message of messages) counts.set(message.route, (counts.get(message.route) || 0) + 1);
  return [...counts].map(([route, n]) => `${count(n)} of ${route}`).join(', ');
}

const field = (/** @type {string} */ label, /** @type {HTMLElement} */ control) =>
  h('div', { class: 'field' }, h('label', { for: control.id }, label), control);

/** @type {View} */
export const deadLetters = {
  title: () => 'Dead letters',
  async render(root, { params, signal }) {
    let filters = readFilters(params);
    const routes = await listRoutes();
    if (signal.aborted) return;

    // --- Filters ---
    const controls = {
      route: h(
        'select',
        { id: 'filter-route', name: 'route' },
        h('option', { value: '' }, 'All routes'),
        routes.map((route) => h('option', { value: route.name }, route.name)),
      ),
      group: h('input', {
        id: 'filter-group',
        name: 'group',
        autocomplete: 'off',
        spellcheck: 'false',
      }),
      since: h('input', { id: 'filter-since', name: 'since', type: 'datetime-local', step: 1 }),
      error: h('input', { id: 'filter-error', name: 'error', type: 'search', autocomplete: 'off' }),
    };
    function showFilters() {
      for (const name of FILTERS) controls[name].value = filters[name];
    }
    showFilters();
    /** @param {Filters} next */
    function applyFilters(next) {
      filters = next;
      showFilters();
      // replaceState, not a hash change: the page stays, and so does the focus.
      history.replaceState(null, '', `#/dead${query(filters)}`);
      reload();
    }
    const form = h(
      'form',
      {
        class: 'filters',
        role: 'search',
        'aria-label': 'Filter dead letters',
        onsubmit: (/** @type {SubmitEvent} */ event) => {
          event.preventDefault();
          applyFilters(
            /** @type {Filters} */ (
              Object.fromEntries(FILTERS.map((name) => [name, controls[name].value.trim()]))
            ),
          );
        },
      },
      field('Route', controls.route),
      field('Group', controls.group),
      field('Dead-lettered since', controls.since),
      field('Error contains', controls.error),
      h(
        'div',
        { class: 'field-actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
        h(
          'button',
          {
            type: 'button',
            onclick: () => applyFilters({ route: '', group: '', since: '', error: '' }),
          },
          'Clear',
        ),
      ),
    );

    // --- Selection and actions ---
    /** @type {Map<string, MessageSummary>} */
    const selected = new Map();
    const selection = h('span', { class: 'selection', 'aria-live': 'polite' });
    const redriveButton = h('button', { type: 'button', class: 'primary' }, 'Redrive selected');
    const discardButton = h('button', { type: 'button', class: 'danger' }, 'Discard selected');
    const redriveAllButton = h('button', { type: 'button' }, 'Redrive all matching');
    redriveButton.addEventListener('click', () => redriveSelected(redriveButton));
    discardButton.addEventListener('click', () => discardSelected(discardButton));
    redriveAllButton.addEventListener('click', () => redriveAllMatching(redriveAllButton));

    const selectAll = h('input', {
      type: 'checkbox',
      id: 'select-all',
      'aria-label': 'Select all dead letters shown',
    });
    selectAll.addEventListener('change', () => {
      for (const message of items) {
        if (selectAll.checked) selected.set(message.id, message);
        else selected.delete(message.id);
      }
      for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (
        body.querySelectorAll('input[type=checkbox]')
      ))
        box.checked = selectAll.checked;
      showSelection();
    });

    const body = h('tbody');
    const status = h('p', { class: 'meta', 'aria-live': 'polite' });
    const loadMoreButton = h('button', { type: 'button', hidden: true }, 'Load more');
    loadMoreButton.addEventListener('click', () =>
      busy(loadMoreButton, async () => {
        try {
          await loadMore(generation);
        } catch (error) {
          reportError('Could not load more dead letters', error);
        }
      }),
    );

    root.append(
      form,
      h(
        'div',
        { class: 'toolbar', role: 'group', 'aria-label': 'Actions on dead letters' },
        selection,
        redriveButton,
        discardButton,
        h('span', { class: 'spacer' }),
        redriveAllButton,
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data' },
          h('caption', { class: 'visually-hidden' }, 'Dead letters'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col', class: 'check' }, selectAll),
              h('th', { scope: 'col' }, 'Message'),
              h('th', { scope: 'col' }, 'Route'),
              h('th', { scope: 'col' }, 'Group'),
              h('th', { scope: 'col', class: 'num' }, 'Sequence'),
              h('th', { scope: 'col', class: 'num' }, 'Attempts'),
              h('th', { scope: 'col' }, 'Dead-lettered'),
              h('th', { scope: 'col' }, 'Error'),
            ),
          ),
          body,
        ),
      ),
      h('div', { class: 'table-foot' }, status, loadMoreButton),
    );

    function showSelection() {
      const n = selected.size;
      selection.textContent = n === 0 ? 'None selected' : plural(n, 'selected', 'selected');
      selectAll.checked = items.length > 0 && items.every((message) => selected.has(message.id));
      selectAll.indeterminate =
        !selectAll.checked && items.some((message) => selected.has(message.id));
    }

    // --- Loading ---
    /** @type {MessageSummary[]} */
    let items = [];
    /** @type {string | null} */
    let cursor = null;
    let done = false;
    // A reload started while an older one runs makes the older one's answers stale.
    let generation = 0;

    /** @param {MessageSummary} message */
    function row(message) {
      const box = h('input', {
        type: 'checkbox',
        'aria-label': `Select dead letter ${message.id}`,
        checked: selected.has(message.id),
      });
      box.addEventListener('change', () => {
        if (box.checked) selected.set(message.id, message);
        else selected.delete(message.id);
        showSelection();
      });
      return h(
        'tr',
        {},
        h('td', { class: 'check' }, box),
        h('th', { scope: 'row' }, messageLink(message.id)),
        h('td', {}, message.route),
        h('td', { class: 'mono' }, message.group),
        h('td', { class: 'num' }, message.sequence),
        h('td', { class: 'num' }, count(message.attempts)),
        h('td', { class: 'nowrap' }, time(message.finishedAt)),
        h(
          'td',
          { class: 'error-text' },
          message.lastError || '',
          message.deadReason ? h('span', { class: 'sub' }, message.deadReason) : null,
        ),
      );
    }

    function showRows() {
      if (items.length === 0) {
        const anyFilter = FILTERS.some((name) => filters[name]);
        body.replaceChildren(
          h(
            'tr',
            {},
            h(
              'td',
              { colspan: 8, class: 'empty' },
              done
                ? anyFilter
                  ? 'No dead letter matches these filters.'
                  : 'No dead letters: every message was delivered or is on its way.'
                : 'No match yet among the dead letters scanned.',
            ),
          ),
        );
      } else {
        body.replaceChildren(...items.map(row));
      }
      status.textContent = `Showing ${plural(items.length, 'dead letter')}${done ? '.' : '; there may be more.'}`;
      loadMoreButton.hidden = done;
      showSelection();
    }

    /** @param {number} mine The generation of the reload this belongs to. */
    async function loadMore(mine) {
      const matches = matcher(filters);
      let added = 0;
      let scanned = 0;
      while (!done && added < SHOW_AT_LEAST && scanned < SCAN_LIMIT) {
        /** @type {MessagePage} */
        const page = await api(
          'messages' +
            query({
              state: 'dead',
              route: filters.route,
              group: filters.group,
              // Without filters of its own, the page shows what the API sends.
              limit: needsScan(filters) ? FETCH_LIMIT : SHOW_AT_LEAST,
              cursor,
            }),
        );
        if (signal.aborted || mine !== generation) return;
        scanned += page.items.length;
        for (const message of page.items) {
          if (matches(message)) {
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
      selected.clear();
      status.textContent = 'Loading…';
      try {
        await loadMore(mine);
      } catch (error) {
        if (!signal.aborted) reportError('Could not load the dead letters', error);
      }
    }

    // --- Actions ---
    /** @param {string} what */
    function nothingSelected(what) {
      if (selected.size > 0) return false;
      notify(`Select the dead letters to ${what} first, with the boxes in the first column.`);
      return true;
    }

    /** @param {HTMLButtonElement} button */
    async function redriveSelected(button) {
      if (nothingSelected('redrive')) return;
      const messages = [...selected.values()];
      const ok = await confirmAction({
        title: `Redrive ${plural(messages.length, 'dead letter')}?`,
        description: [
          h('p', {}, `Selected: ${byRoute(messages)}.`),
          h(
            'p',
            {},
            'They go back to the queue and are delivered again, each in its original place in its group.',
          ),
        ],
        confirm: `Redrive ${plural(messages.length, 'dead letter')}`,
      });
      if (!ok) return;
      await busy(button, async (label) => {
        try {
          const ids = messages.map((message) => message.id);
          const moved = await redriveIds(ids, (n, total) => label(`Redriving ${n} of ${total}…`));
          notify(
            'Redrove ' +
              plural(moved, 'dead letter') +
              (moved < ids.length
                ? `; ${count(ids.length - moved)} were no longer dead letters`
                : '') +
              '.',
            'success',
          );
        } catch (error) {
          reportError('Redrive failed', error);
        }
      });
      await reload();
    }

    /** @param {HTMLButtonElement} button */
    async function discardSelected(button) {
      if (nothingSelected('discard')) return;
      const messages = [...selected.values()];
      const ok = await confirmAction({
        title: `Discard ${plural(messages.length, 'dead letter')}?`,
        description: [
          h('p', {}, `Selected: ${byRoute(messages)}.`),
          h(
            'p',
            {},
            'They are deleted for good and will never be delivered. A group that one of them holds goes on with its next message.',
          ),
        ],
        confirm: `Discard ${plural(messages.length, 'dead letter')}`,
        danger: true,
      });
      if (!ok) return;
      await busy(button, async (label) => {
        try {
          const result = await discardIds(
            messages.map((message) => message.id),
            (n, total) => label(`Discarding ${n} of ${total}…`),
          );
          if (result.errors.length > 0) {
            notify(
              'Discarded ' +
                plural(result.discarded, 'dead letter') +
                '; ' +
                count(result.errors.length) +
                ' failed: ' +
                result.errors.slice(0, 3).join('; '),
              'error',
            );
          } else {
            notify(`Discarded ${plural(result.discarded, 'dead letter')}.`, 'success');
          }
        } catch (error) {
          reportError('Discard failed', error);
        }
      });
      await reload();
    }

    /**
     * Every dead letter matching the filters, walking all pages of the API.
     * @param {(text: string) => void} label Shows how many were found so far.
     */
    async function allMatching(label) {
      const matches = matcher(filters);
      /** @type {MessageSummary[]} */
      const found = [];
      /** @type {string | null} */
      let next = null;
      do {
        /** @type {MessagePage} */
        const page = await api(
          'messages' +
            query({
              state: 'dead',
              route: filters.route,
              group: filters.group,
              limit: MAX_PAGE,
              cursor: next,
            }),
        );
        for (const message of page.items) if (matches(message)) found.push(message);
        next = page.nextCursor;
        label(`Counting… ${count(found.length)}`);
      } while (next !== null);
      return found;
    }

    /** @param {HTMLButtonElement} button */
    async function redriveAllMatching(button) {
      let acted = false;
      await busy(button, async (label) => {
        try {
          // When the filters are ones the API has, it redrives in pages on its side; the
          // others need the ids, gathered here and sent by redriveIds in calls of at most
          // MAX_REDRIVE_IDS.
          const byApi = !needsScan(filters) && (filters.group === '' || filters.route !== '');
          let n;
          /** @type {string[] | null} */
          let ids = null;
          if (byApi && filters.group === '') {
            n = (await listRoutes())
              .filter((route) => filters.route === '' || route.name === filters.route)
              .reduce((total, route) => total + route.deadLetter, 0);
          } else {
            const found = await allMatching(label);
            n = found.length;
            if (!byApi) ids = found.map((message) => message.id);
          }
          if (n === 0) {
            notify(`No dead letter matches ${describe(filters)}.`);
            return;
          }
          const ok = await confirmAction({
            title: `Redrive all ${plural(n, 'matching dead letter')}?`,
            description: [
              h('p', {}, `Matching: ${describe(filters)}.`),
              h(
                'p',
                {},
                (n === 1 ? 'It goes' : `All ${count(n)} go`) +
                  ' back to the queue and are delivered again, each in its original place in its group.' +
                  (ids === null ? ' Any that die meanwhile and match are included.' : ''),
              ),
            ],
            confirm: `Redrive ${plural(n, 'dead letter')}`,
          });
          if (!ok) return;
          acted = true;
          label('Redriving…');
          let moved;
          if (ids !== null) {
            moved = await redriveIds(ids, (done, total) => label(`Redriving ${done} of ${total}…`));
          } else {
            /** @type {{ route?: string, all?: true, group?: string }} */
            const body = filters.route ? { route: filters.route } : { all: true };
            if (filters.group) body.group = filters.group;
            moved = /** @type {RedriveResult} */ (await api('redrive', { method: 'POST', body }))
              .moved;
          }
          notify(`Redrove ${plural(moved, 'dead letter')}.`, 'success');
        } catch (error) {
          reportError('Redrive failed', error);
        }
      });
      if (acted) await reload();
    }

    await reload();
  },
};
