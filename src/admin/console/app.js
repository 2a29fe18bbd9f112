// @ts-check
// The console's entry point: hash routing, layout and sign-in.

import { api, apiEvents, token } from './api.js';
import { blockedGroups } from './blocked.js';
import { deadLetters } from './dead-letters.js';
import { messageView } from './message.js';
import { messages } from './messages.js';
import { overview } from './overview.js';
import { busy, dropNoticeOfOtherPage, h, notify, reportError } from './ui.js';

/** @import { ApiError } from './api.js' */

/**
 * Where the hash points: #/message/ID is { name: 'message', arg: 'ID' }.
 * @typedef {{ name: string, arg: string, params: URLSearchParams }} Place
 */

/**
 * What a view renders with. The signal aborts when another view replaces it.
 * @typedef {object} ViewContext
 * @property {string} arg
 * @property {URLSearchParams} params
 * @property {AbortSignal} signal
 * @property {() => Promise<void>} reload Shows the view afresh.
 */

/**
 * A page of the console: its title, and how it fills the root under its heading.
 * @typedef {object} View
 * @property {(place: Place) => string} title
 * @property {(root: HTMLElement, context: ViewContext) => Promise<void>} render
 */

// Views by the first part of the hash: #/dead?route=orders, #/message/ID. The hash keeps
// the page's state (so it survives a reload and can be shared), never the token.
/** @type {Record<string, View | undefined>} */
const VIEWS = {
  '': overview,
  messages,
  dead: deadLetters,
  message: messageView,
  blocked: blockedGroups,
};

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const signOut = /** @type {HTMLButtonElement} */ (document.getElementById('sign-out'));

/**
 * Aborted when the view on screen is replaced: its timers stop, late answers are dropped.
 * @type {AbortController | undefined}
 */
let current;
/** @type {string | undefined} */
let shownView;
let signingIn = false;

/** @returns {Place} */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  const parts = path.split('/');
  return {
    name: parts[0] || '',
    arg: parts.slice(1).map(decodeURIComponent).join('/'),
    params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)),
  };
}

/**
 * @param {boolean} signedIn
 * @param {string} [viewName]
 */
function setChrome(signedIn, viewName) {
  nav.hidden = !signedIn;
  // Without a token the server is open (loopback only): there is nothing to sign out of.
  signOut.hidden = !signedIn || token.get() === null;
  for (const link of nav.querySelectorAll('a')) {
    // A message's page is part of the messages.
    const here =
      link.dataset.view === (viewName === 'message' ? 'messages' : viewName || 'overview');
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function show() {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  signingIn = false;
  const route = parseHash();
  const view = VIEWS[route.name];
  setChrome(true, route.name);
  dropNoticeOfOtherPage();

  const title = view ? view.title(route) : 'Not found';
  document.title = `${title} · hookq`;
  const heading = h('h1', { tabindex: -1 }, title);
  const root = h('div', { class: 'view' }, heading);
  const focusInPage = main.contains(document.activeElement);
  main.replaceChildren(root);
  // The heading takes the focus when a new page opens (so it is announced) and when
  // the control that had it was just replaced (so it is not dropped onto the body).
  if ((shownView !== undefined && shownView !== route.name) || focusInPage) heading.focus();
  shownView = route.name;

  if (!view) {
    root.append(
      h('p', {}, 'There is no such page. ', h('a', { href: '#/' }, 'Go to the overview.')),
    );
    return;
  }
  try {
    await view.render(root, {
      arg: route.arg,
      params: route.params,
      signal: controller.signal,
      reload: show,
    });
  } catch (error) {
    if (!controller.signal.aborted) reportError('Could not show this page', error);
  }
}

/** @param {string} [message] Why the token is asked for. */
function showSignIn(message) {
  if (current) current.abort();
  current = undefined;
  shownView = undefined;
  signingIn = true;
  setChrome(false);
  document.title = 'Sign in · hookq';

  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help signin-error',
  });
  const error = h('p', { id: 'signin-error', class: 'field-error', role: 'alert' }, message || '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');

  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      error.textContent = 'Enter the admin token.';
      input.focus();
      return;
    }
    await busy(button, async (label) => {
      label('Signing in…');
      try {
        // Tried before it is kept: a wrong token never replaces a good one.
        await api('routes', { token: value });
        token.set(value);
        notify('');
        show();
      } catch (caught) {
        const failure = /** @type {ApiError} */ (caught);
        error.textContent =
          failure.status === 401
            ? 'That token was not accepted. It is admin.token in the configuration of this hookq.'
            : `Could not sign in: ${failure.message}`;
        input.setAttribute('aria-invalid', 'true');
        input.select();
        input.focus();
      }
    });
  }

  // method=post: should this script ever not handle the submit, the browser posts the
  // form instead of putting the token into the address as a query string.
  const form = h(
    'form',
    { class: 'signin', method: 'post', novalidate: true, onsubmit: submit },
    h('h1', {}, 'Sign in'),
    h(
      'p',
      { id: 'token-help', class: 'muted' },
      'Enter the admin token of this hookq (admin.token in its configuration). ' +
        'It is kept in this browser tab only, until you sign out or close the tab.',
    ),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    error,
    h('div', { class: 'actions' }, button),
  );
  main.replaceChildren(h('div', { class: 'view narrow' }, form));
  input.focus();
}

apiEvents.addEventListener('unauthorized', () => {
  // Several calls of one page can fail together; the first one decides the message.
  if (signingIn) return;
  const hadToken = token.get() !== null;
  token.clear();
  showSignIn(hadToken ? 'The admin token was refused; sign in again.' : '');
});

signOut.addEventListener('click', () => {
  token.clear();
  notify('Signed out.');
  showSignIn();
});

// While signing in, the hash may change (back button); the sign-in shows the page it names.
window.addEventListener('hashchange', () => {
  if (!signingIn) show();
});

show();
