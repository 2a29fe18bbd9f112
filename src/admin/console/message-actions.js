// @ts-check
// Redrive or discard one dead letter from its button, and tell the operator how it went:
// the message page and the blocked groups both offer it.

import { api, messagePath, redriveIds } from './api.js';
import { busy, confirmAction, h, notify, reportError } from './ui.js';

/**
 * Redrive one dead letter. `after` runs once it is queued again (or was found no longer
 * dead), before the notice, which may belong to the page `after` leads to.
 * @param {HTMLButtonElement} button
 * @param {string} id
 * @param {string} done What to tell once it moved.
 * @param {() => void} after
 */
export function redriveOne(button, id, done, after) {
  return busy(button, async () => {
    try {
      const moved = await redriveIds([id]);
      after();
      notify(moved === 1 ? done : 'It was no longer a dead letter.', 'success');
    } catch (error) {
      reportError('Redrive failed', error);
    }
  });
}

/**
 * Discard one dead letter for good, once the operator confirmed it in a dialog that says
 * what is lost. `after` runs once it is gone, before the notice (as for redriveOne).
 * @param {HTMLButtonElement} button
 * @param {string} id
 * @param {{ title: string, consequence: string, done: string, after: () => void }} how
 */
export async function discardOne(button, id, { title, consequence, done, after }) {
  const ok = await confirmAction({
    title,
    description: h('p', {}, consequence),
    confirm: 'Discard 1 dead letter',
    danger: true,
  });
  if (!ok) return;
  await busy(button, async () => {
    try {
      await api(messagePath(id), { method: 'DELETE' });
      after();
      notify(done, 'success');
    } catch (error) {
      reportError('Discard failed', error);
    }
  });
}
