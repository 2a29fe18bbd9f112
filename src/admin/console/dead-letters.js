// @ts-check
// The dead-letter queue, filtered, with redrive and discard.

import { api, discardIds, listRoutes, redriveIds } from './api.js';
import { COLUMNS, groupField, messageList, routeField } from './message-list.js';
import { busy, confirmAction, count, enable, h, notify, plural, reportError, zone } from './ui.js';

/**
 * @import { MessageSummary, RedriveResult } from './api.js'
 * @import { View } from './app.js'
 * @import { Column, Filters } from './message-list.js'
 * @import { Child } from './ui.js'
 */

/**
 * The filters the API does not have (time and error text), or null when neither is set.
 * @param {Filters} filters
 * @returns {((message: MessageSummary) => boolean) | null}
 */
function inPage(filters) {
  if (!filters.since && !filters.error) return null;
  // datetime-local values have no zone: Date reads them as the operator's local time.
  const since = filters.since ? new Date(filters.since).getTime() : null;
  const needle = (filters.error || '').toLowerCase();
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
  if (filters.since) {
    const at = new Date(filters.since);
    parts.push(`dead-lettered since ${filters.since.replace('T', ' ')} ${zone(at)}`);
  }
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

/** @type {View} */
export const deadLetters = {
  title: () => 'Dead letters',
  async render(root, { params, signal }) {
    const routes = await listRoutes();
    if (signal.aborted) return;

    // --- Selection ---
    /** @type {Map<string, MessageSummary>} */
    const selected = new Map();
    const selection = h('span', { class: 'selection', 'aria-live': 'polite' });
    const redriveButton = h('button', { type: 'button', class: 'primary' }, 'Redrive selected');
    const discardButton = h('button', { type: 'button', class: 'danger' }, 'Discard selected');
    const redriveAllButton = h('button', { type: 'button' }, 'Redrive all matching');
    redriveButton.addEventListener('click', () =>
      actOnSelected(redriveButton, {
        verb: 'Redrive',
        what: 'They go back to the queue and are delivered again, each in its original place in its group.',
        act: async (messages, label) => {
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
        },
      }),
    );
    discardButton.addEventListener('click', () =>
      actOnSelected(discardButton, {
        verb: 'Discard',
        what: 'They are deleted for good and will never be delivered. A group that one of them holds goes on with its next message.',
        danger: true,
        act: async (messages, label) => {
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
        },
      }),
    );
    redriveAllButton.addEventListener('click', () => redriveAllMatching(redriveAllButton));

    const selectAll = h('input', {
      type: 'checkbox',
      id: 'select-all',
      'aria-label': 'Select all dead letters shown',
    });
    selectAll.addEventListener('change', () => {
      for (const message of list.items()) {
        if (selectAll.checked) selected.set(message.id, message);
        else selected.delete(message.id);
      }
      list.redraw();
    });

    /** @type {Column<MessageSummary>} */
    const check = {
      head: selectAll,
      class: 'check',
      headClass: 'check',
      cell: (message) => {
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
        return box;
      },
    };

    /** What the selection and the list allow: buttons with nothing to act on are off. */
    function showSelection() {
      const n = selected.size;
      const items = list.items();
      selection.textContent = n === 0 ? 'None selected' : plural(n, 'selected', 'selected');
      selectAll.checked = items.length > 0 && items.every((message) => selected.has(message.id));
      selectAll.indeterminate =
        !selectAll.checked && items.some((message) => selected.has(message.id));
      enable(redriveButton, n > 0, selectAll);
      enable(discardButton, n > 0, selectAll);
      enable(redriveAllButton, !list.empty(), selectAll);
    }

    const list = messageList(
      {
        path: '#/dead',
        noun: 'dead letter',
        fields: [
          routeField(routes),
          groupField(),
          [
            'since',
            `Dead-lettered since (${zone()})`,
            h('input', { id: 'filter-since', name: 'since', type: 'datetime-local', step: 1 }),
          ],
          [
            'error',
            'Error contains',
            h('input', { id: 'filter-error', name: 'error', type: 'search', autocomplete: 'off' }),
          ],
        ],
        apiQuery: (filters) => ({ state: 'dead', route: filters.route, group: filters.group }),
        inPage,
        columns: [
          check,
          COLUMNS.message,
          COLUMNS.route,
          COLUMNS.group,
          COLUMNS.sequence,
          COLUMNS.attempts,
          COLUMNS.deadLettered,
          COLUMNS.error,
        ],
        none: 'No dead letters: every message was delivered or is on its way.',
        onReload: () => {
          selected.clear();
          showSelection();
        },
        onShow: showSelection,
      },
      params,
      signal,
    );

    root.append(
      list.form,
      h(
        'div',
        { class: 'toolbar', role: 'group', 'aria-label': 'Actions on dead letters' },
        selection,
        redriveButton,
        discardButton,
        h('span', { class: 'spacer' }),
        redriveAllButton,
      ),
      list.table,
      list.foot,
    );

    // --- Actions ---
    /**
     * Act on the selected dead letters once the operator confirmed it, then list afresh.
     * @param {HTMLButtonElement} button
     * @param {{ verb: string, what: Child, danger?: boolean,
     *   act: (messages: MessageSummary[], label: (text: string) => void) => Promise<void> }} action
     */
    async function actOnSelected(button, { verb, what, danger, act }) {
      const messages = [...selected.values()];
      const ok = await confirmAction({
        title: `${verb} ${plural(messages.length, 'dead letter')}?`,
        description: [h('p', {}, `Selected: ${byRoute(messages)}.`), h('p', {}, what)],
        confirm: `${verb} ${plural(messages.length, 'dead letter')}`,
        danger,
      });
      if (!ok) return;
      await busy(button, async (label) => {
        try {
          await act(messages, label);
        } catch (error) {
          reportError(`${verb} failed`, error);
        }
      });
      await list.reload();
    }

    /** @param {HTMLButtonElement} button */
    async function redriveAllMatching(button) {
      const filters = list.filters();
      let acted = false;
      await busy(button, async (label) => {
        try {
          // When the filters are ones the API has, it redrives in pages on its side; the
          // others need the ids, gathered here and sent by redriveIds in calls of at most
          // MAX_REDRIVE_IDS.
          const byApi = !list.filteredInPage() && (!filters.group || !!filters.route);
          let n;
          /** @type {string[] | null} */
          let ids = null;
          if (byApi && !filters.group) {
            n = (await listRoutes())
              .filter((route) => !filters.route || route.name === filters.route)
              .reduce((total, route) => total + route.deadLetter, 0);
          } else {
            const found = await list.all(label);
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
      if (acted) await list.reload();
    }

    await list.reload();
  },
};
