// @ts-check
// Every message, not only dead letters: queued, in flight, delivered or dead, by route,
// state and group, in their order within each route.

import { listRoutes } from './api.js';
import { COLUMNS, groupField, messageList, routeField } from './message-list.js';
import { h } from './ui.js';

/** @import { View } from './app.js' */

/** The states to choose from, as the API names them and as the console says them. */
const STATES = [
  ['queued', 'queued'],
  ['inflight', 'in flight'],
  ['delivered', 'delivered'],
  ['dead', 'dead letters'],
];

/** @type {View} */
export const messages = {
  title: () => 'Messages',
  async render(root, { params, signal }) {
    const routes = await listRoutes();
    if (signal.aborted) return;
    const list = messageList(
      {
        path: '#/messages',
        noun: 'message',
        fields: [
          routeField(routes),
          [
            'state',
            'State',
            h(
              'select',
              { id: 'filter-state', name: 'state' },
              h('option', { value: '' }, 'Every state'),
              STATES.map(([value, label]) => h('option', { value }, label)),
            ),
          ],
          groupField(),
        ],
        apiQuery: (filters) => filters,
        columns: [
          COLUMNS.message,
          COLUMNS.route,
          COLUMNS.group,
          COLUMNS.sequence,
          COLUMNS.state,
          COLUMNS.attempts,
          COLUMNS.received,
          COLUMNS.finished,
          COLUMNS.error,
        ],
        none: 'No messages are kept: none has arrived, or retention removed them.',
      },
      params,
      signal,
    );
    root.append(list.form, list.table, list.foot);
    await list.reload();
  },
};
