// @ts-check
// One message with its headers, body and attempt timeline.

import { api, messagePath } from './api.js';
import { discardOne, redriveOne } from './message-actions.js';
import { badge, busy, count, h, messageLink, notify, reportError, stateBadge, time } from './ui.js';

/**
 * @import { ApiError, Message, Replayed } from './api.js'
 * @import { View } from './app.js'
 * @import { Child } from './ui.js'
 */

/**
 * A way to show the body: its value, its label and the text it shows.
 * @typedef {[string, string, () => string]} Format
 */

// Past this size a body is cut for display: a hex dump of megabytes helps nobody and
// makes the page crawl.
const SHOWN_BYTES = 64 * 1024;

/** @type {Record<string, [string, string] | undefined>} */
const OUTCOMES = {
  delivered: ['delivered', 'good'],
  http_error: ['HTTP error', 'bad'],
  timeout: ['timed out', 'bad'],
  network_error: ['network error', 'bad'],
  lease_expired: ['outcome lost', 'warn'],
};

/** @param {Message} message */
function bytesOf(message) {
  if (message.bodyEncoding === 'base64') {
    return Uint8Array.from(atob(message.body), (char) => char.charCodeAt(0));
  }
  return new TextEncoder().encode(message.body);
}

/** @param {Uint8Array} bytes */
function base64Of(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    // apply takes any array-like, though its type names only arrays.
    binary += String.fromCharCode.apply(null, /** @type {any} */ (bytes.subarray(i, i + 0x8000)));
  }
  return btoa(binary);
}

/**
 * Offset, sixteen bytes in hex, and the same bytes as ASCII (dots for the rest).
 * @param {Uint8Array} bytes
 */
function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (byte) => byte.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = Array.from(row, (byte) =>
      byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.',
    ).join('');
    lines.push(
      offset.toString(16).padStart(8, '0') +
        '  ' +
        `${left}  ${right}`.padEnd(49) +
        ' |' +
        ascii +
        '|',
    );
  }
  return lines.join('\n');
}

/** @param {Message} message */
function prettyJson(message) {
  if (message.bodyEncoding !== 'utf8') return null;
  try {
    return JSON.stringify(JSON.parse(message.body), null, 2);
  } catch {
    return null;
  }
}

/**
 * The message's facts as a list of terms; those without a value are left out.
 * @param {Array<[string, Child]>} entries
 */
function facts(entries) {
  return h(
    'dl',
    { class: 'facts' },
    entries
      .filter((entry) => entry[1] !== null && entry[1] !== undefined && entry[1] !== '')
      .map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))),
  );
}

/**
 * @param {string} title
 * @param {string} id The heading's id, which names the section.
 * @param {Child[]} content
 */
function section(title, id, ...content) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

/** @param {Message} message */
function bodySection(message) {
  const bytes = bytesOf(message);
  const shown = bytes.length > SHOWN_BYTES ? bytes.subarray(0, SHOWN_BYTES) : bytes;
  const json = prettyJson(message);
  /** @type {Format[]} */
  const formats = [];
  if (json !== null) formats.push(['json', 'JSON', () => json]);
  if (message.bodyEncoding === 'utf8')
    formats.push(['text', 'Text', () => message.body.slice(0, SHOWN_BYTES)]);
  formats.push(['hex', 'Hex', () => hexDump(shown)]);
  formats.push(['base64', 'Base64', () => base64Of(shown)]);

  const pre = h('pre', { class: 'body', tabindex: 0, 'aria-label': 'Message body' });
  const show = (/** @type {string} */ format) => {
    pre.textContent = /** @type {Format} */ (formats.find((entry) => entry[0] === format))[2]();
  };
  const chooser = h(
    'fieldset',
    { class: 'segmented' },
    h('legend', {}, 'Show the body as'),
    formats.map(([value, label], index) =>
      h(
        'label',
        {},
        h('input', {
          type: 'radio',
          name: 'body-format',
          value,
          checked: index === 0,
          onchange: () => show(value),
        }),
        label,
      ),
    ),
  );
  show(/** @type {Format} */ (formats[0])[0]);
  const kind =
    json !== null ? 'JSON' : message.bodyEncoding === 'utf8' ? 'UTF-8 text' : 'binary (not UTF-8)';
  return section(
    'Body',
    'body-heading',
    h(
      'div',
      { class: 'body-bar' },
      h(
        'p',
        { class: 'meta' },
        count(message.bodyBytes) +
          ' bytes, ' +
          kind +
          (bytes.length > SHOWN_BYTES ? `; the first ${count(SHOWN_BYTES)} bytes are shown` : '') +
          '.',
      ),
      chooser,
    ),
    pre,
  );
}

/** @param {Message} message */
function headersSection(message) {
  return section(
    'Headers',
    'headers-heading',
    message.headers.length === 0
      ? h('p', { class: 'muted' }, 'No headers were kept.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data headers', 'aria-labelledby': 'headers-heading' },
            h(
              'thead',
              {},
              h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value')),
            ),
            h(
              'tbody',
              {},
              message.headers.map(([name, value]) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row', class: 'mono' }, name),
                  h('td', { class: 'mono wrap' }, value),
                ),
              ),
            ),
          ),
        ),
  );
}

/** @param {Message} message */
function attemptsSection(message) {
  if (message.history.length === 0) {
    return section('Attempts', 'attempts-heading', h('p', { class: 'muted' }, 'No attempt yet.'));
  }
  return section(
    'Attempts',
    'attempts-heading',
    h(
      'ol',
      { class: 'timeline' },
      message.history.map((attempt) => {
        const [outcome, kind] = OUTCOMES[attempt.outcome] || [attempt.outcome, ''];
        return h(
          'li',
          { class: `attempt ${kind}` },
          h(
            'div',
            { class: 'attempt-head' },
            h('strong', {}, `Attempt ${attempt.number}`),
            badge(outcome, kind),
            attempt.status !== null ? h('span', { class: 'mono' }, `HTTP ${attempt.status}`) : null,
            h('span', { class: 'muted' }, `${count(Math.round(attempt.durationMs))} ms`),
            h('span', { class: 'muted' }, time(attempt.startedAt)),
          ),
          // "HTTP 500" as the error only repeats the status shown above it.
          attempt.error && attempt.error !== `HTTP ${attempt.status}`
            ? h('p', { class: 'error-text' }, attempt.error)
            : null,
          attempt.responseExcerpt
            ? h(
                'div',
                { class: 'excerpt' },
                h('span', { class: 'hint' }, 'Response'),
                h('pre', {}, attempt.responseExcerpt),
              )
            : null,
        );
      }),
    ),
  );
}

/** @type {View} */
export const messageView = {
  title: (route) => `Message ${route.arg}`,
  async render(root, { arg: id, signal, reload }) {
    /** @type {Message} */
    let message;
    try {
      message = await api(messagePath(id));
    } catch (error) {
      if (/** @type {ApiError} */ (error).status === 404) {
        root.append(
          h('p', {}, `There is no message ${id}: it was discarded, or retention removed it. `),
          h('p', {}, h('a', { href: '#/dead' }, 'Back to the dead letters')),
        );
        return;
      }
      throw error;
    }
    if (signal.aborted) return;

    const actions = h('div', {
      class: 'toolbar',
      role: 'group',
      'aria-label': 'Actions on this message',
    });
    if (message.state === 'dead') {
      const redrive = h('button', { type: 'button', class: 'primary' }, 'Redrive');
      redrive.addEventListener('click', () =>
        redriveOne(
          redrive,
          message.id,
          'Redriven: the message is queued for delivery again.',
          reload,
        ),
      );
      const discard = h('button', { type: 'button', class: 'danger' }, 'Discard…');
      discard.addEventListener('click', () =>
        discardOne(discard, message.id, {
          title: 'Discard this dead letter?',
          consequence:
            `Message ${message.id} of ${message.route} (group ${message.group}) ` +
            'is deleted for good and will never be delivered.',
          done: `Discarded message ${message.id}.`,
          // To the dead letters it was one of; the notice is then given there.
          after: () => {
            location.hash = `#/dead?route=${encodeURIComponent(message.route)}`;
          },
        }),
      );
      actions.append(redrive, discard);
    }
    if (message.state === 'delivered') {
      const replay = h('button', { type: 'button', class: 'primary' }, 'Replay');
      replay.addEventListener('click', () =>
        busy(replay, async () => {
          try {
            /** @type {Replayed} */
            const copy = await api(`${messagePath(message.id)}/replay`, { method: 'POST' });
            notify(
              h('span', {}, 'Replayed as a new message: ', messageLink(copy.messageId), '.'),
              'success',
            );
          } catch (error) {
            reportError('Replay failed', error);
          }
        }),
      );
      actions.append(
        replay,
        h('span', { class: 'hint' }, 'Delivers a copy of it again, as a new message.'),
      );
    }
    const route = encodeURIComponent(message.route);
    const back =
      message.state === 'dead'
        ? h('a', { href: `#/dead?route=${route}` }, `← Dead letters of ${message.route}`)
        : h(
            'a',
            { href: `#/messages?route=${route}&state=${message.state}` },
            `← Messages of ${message.route}`,
          );

    root.append(
      h('p', { class: 'meta' }, back),
      actions.childElementCount > 0 ? actions : '',
      facts([
        ['State', stateBadge(message.state)],
        ['Route', message.route],
        ['Group', h('span', { class: 'mono' }, message.group)],
        ['Sequence', h('span', { class: 'mono' }, message.sequence)],
        [
          'Attempts',
          count(message.attempts) + (message.redrives > 0 ? ' since the last redrive' : ''),
        ],
        ['Redrives', message.redrives > 0 ? count(message.redrives) : null],
        ['Received', time(message.receivedAt)],
        [
          'Queued since',
          message.enqueuedAt !== message.receivedAt ? time(message.enqueuedAt) : null,
        ],
        ['Next attempt', message.state === 'queued' ? time(message.availableAt) : null],
        ['Finished', message.finishedAt ? time(message.finishedAt) : null],
        ['Replay of', message.replayOf ? messageLink(message.replayOf) : null],
        ['Dead because', message.deadReason],
        [
          'Last error',
          message.lastError ? h('span', { class: 'error-text' }, message.lastError) : null,
        ],
      ]),
      attemptsSection(message),
      headersSection(message),
      bodySection(message),
    );
  },
};
