// @ts-check
// Building elements, formatting, notices and the confirmation dialog.

/** @import { MessageState } from '../../core/terms.js' */

/**
 * What h() adds to an element: nodes, text (numbers too), nothing, or arrays of these.
 * @typedef {Node | string | number | boolean | null | undefined | Child[]} Child
 */

/**
 * Create an element. Text is always added as text nodes, never parsed as HTML: message
 * bodies, headers and error texts come from the outside world.
 * props: 'on<event>' adds a listener, 'class' sets the class, 'value' and 'checked' set
 * the live properties, true sets an empty attribute, false/null/undefined skip it.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  /** @type {Array<[string, unknown]>} */
  const late = [];
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on'))
      element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name === 'class') element.className = /** @type {string} */ (value);
    else if (name === 'value' || name === 'checked') late.push([name, value]);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  // After the children: a select's value can only name one of its options.
  for (const [name, value] of late) /** @type {any} */ (element)[name] = value;
  return element;
}

/**
 * @param {Node & ParentNode} parent
 * @param {Child[]} children
 */
function append(parent, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const count = (/** @type {number} */ n) => Number(n).toLocaleString('en');

/**
 * "1 dead letter", "2 dead letters"; many when the plural is not one with an s.
 * @param {number} n
 * @param {string} one
 * @param {string} [many]
 */
export const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many || `${one}s`}`;

/**
 * A duration in seconds, to the two largest units: "3 min 20 s", "2 h 5 min".
 * @param {number} seconds
 */
export function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const hours = Math.floor((s % 86400) / 3600);
  return `${Math.floor(s / 86400)} d${hours ? ` ${hours} h` : ''}`;
}

const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');

/**
 * The operator's zone at a moment, as its offset from UTC: "UTC+02:00", "UTC-03:30",
 * or "UTC" itself. An offset, not a zone name: it is exact, and the same in every browser.
 * @param {Date} [at] Offsets change with daylight saving time, so they are of a moment.
 */
export function zone(at = new Date()) {
  const minutes = -at.getTimezoneOffset();
  if (minutes === 0) return 'UTC';
  const sign = minutes > 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * A time element: the operator's local time to the second with its zone, "2024-05-01
 * 14:03:07 UTC+02:00"; the exact UTC time in its datetime and title. Every time the
 * console shows goes through here, so none of them is ever without its zone.
 * @param {string | null} iso
 */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const t = new Date(iso);
  const date = [t.getFullYear(), pad(t.getMonth() + 1), pad(t.getDate())].join('-');
  const clock = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => pad(n)).join(':');
  return h('time', { datetime: iso, title: iso }, `${date} ${clock} ${zone(t)}`);
}

/**
 * A small coloured label; the text carries the meaning, the colour only repeats it.
 * @param {string} text
 * @param {string} [kind]
 */
export const badge = (text, kind) => h('span', { class: `badge ${kind || ''}` }, text);

export const stateBadge = (/** @type {MessageState} */ state) =>
  badge(
    state === 'inflight' ? 'in flight' : state,
    { dead: 'bad', delivered: 'good', inflight: 'busy', queued: 'info' }[state],
  );

/** The message id as a link to its page. */
export const messageLink = (/** @type {string} */ id) =>
  h('a', { href: `#/message/${encodeURIComponent(id)}`, class: 'mono' }, id);

// --- Notices --------------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;
/** The page (its address) the notice on screen was given on. */
let noticePage = '';

/**
 * Tell the operator what happened, in the page's live region. Errors stay until the next
 * notice or until another page is shown (see dropNoticeOfOtherPage); others go after 8 s.
 * A notice about where an action leads is given after the address has changed to it.
 * @param {string | Node} text
 * @param {'info' | 'success' | 'error'} [kind]
 */
export function notify(text, kind) {
  const region = /** @type {HTMLElement} */ (document.getElementById('notice'));
  clearTimeout(noticeTimer);
  region.replaceChildren();
  noticePage = location.hash;
  if (!text) return;
  region.append(
    h(
      'p',
      { class: `notice-${kind || 'info'}` },
      text,
      h(
        'button',
        { type: 'button', class: 'quiet', 'aria-label': 'Dismiss', onclick: () => notify('') },
        '×',
      ),
    ),
  );
  if (kind !== 'error') noticeTimer = setTimeout(() => notify(''), 8000);
}

/**
 * Clear a notice given on another page than the one now shown: "Redrove 3 dead letters"
 * says nothing about the overview.
 */
export function dropNoticeOfOtherPage() {
  if (noticePage !== location.hash) notify('');
}

/**
 * An error of an API call, unless it is a 401: the app is already asking for the token.
 * @param {string} what
 * @param {any} error Whatever was thrown, mostly an ApiError.
 */
export function reportError(what, error) {
  if (error?.status === 401) return;
  notify(`${what}: ${error?.message ? error.message : String(error)}`, 'error');
}

// --- Confirmation ---------------------------------------------------------------------

let dialogs = 0;

/**
 * Ask before acting, in a modal dialog that says what will happen. Resolves true when
 * confirmed; Escape or Cancel resolve false. Cancel has the focus, so a stray Enter
 * does nothing harmful.
 * @param {{ title: string, description: Child, confirm: string, danger?: boolean }} question
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, description, confirm, danger }) {
  dialogs += 1;
  const titleId = `dialog-title-${dialogs}`;
  const descriptionId = `dialog-description-${dialogs}`;
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': titleId, 'aria-describedby': descriptionId },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: titleId }, title),
        h('div', { id: descriptionId }, description),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
          h('button', { value: 'confirm', class: danger ? 'danger' : 'primary' }, confirm),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Enable a button, or disable it while there is nothing for it to act on. A button that
 * has the focus hands it to `fallback` first, so that the keyboard is not dropped onto
 * the page's body.
 * @param {HTMLButtonElement} button
 * @param {boolean} enabled
 * @param {HTMLElement} fallback
 */
export function enable(button, enabled, fallback) {
  if (!enabled && document.activeElement === button) fallback.focus();
  button.disabled = !enabled;
}

/**
 * Mark a button busy while its action runs, so a double click cannot act twice. It stays
 * enabled (aria-disabled), because disabling a focused button drops the keyboard focus.
 * The action may change the button's label while it runs; the label comes back after.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {(label: (text: string) => void) => Promise<T>} action
 * @returns {Promise<T | undefined>}
 */
export async function busy(button, action) {
  if (button.getAttribute('aria-busy') === 'true') return undefined;
  const label = button.textContent;
  button.setAttribute('aria-busy', 'true');
  button.setAttribute('aria-disabled', 'true');
  try {
    return await action((text) => {
      button.textContent = text;
    });
  } finally {
    button.removeAttribute('aria-busy');
    button.removeAttribute('aria-disabled');
    button.textContent = label;
  }
}
