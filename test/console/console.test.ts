/**
 * The web console in a real, headless Chromium: an operator signs in, sees where the
 * backlog is, opens a failed message, and redrives the dead letters by clicking, and
 * the target then gets them in per-group order. Each page is saved as a screenshot
 * under test-results/console/; with HOOKQ_UPDATE_SCREENSHOTS=1 also under docs/, where
 * the README's pictures live (ids and times differ on every run, so they are not
 * rewritten unless asked).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { after, before, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { type RunningHookq, startHookq } from '../../src/app.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = [
  fileURLToPath(new URL('../../test-results/console/', import.meta.url)),
  ...(process.env.HOOKQ_UPDATE_SCREENSHOTS
    ? [fileURLToPath(new URL('../../docs/', import.meta.url))]
    : []),
];
const TOKEN = 'console-test-token-7f3a9c';

// Locally the browser tests are skipped without Chromium; in CI (which installs it) a
// missing browser is a failure, never a silent skip.
const skip =
  !existsSync(CHROMIUM) && !process.env.CI
    ? `needs Chromium at ${CHROMIUM} (apt-get install chromium; or set CHROMIUM_PATH)`
    : false;

let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}; .ci/run installs it`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function textOf(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').trim();
}

/**
 * A page that fails its test on any script error or Content-Security-Policy violation,
 * in the browser's time zone unless `timezoneId` names another.
 */
async function openPage(t: TestContext, timezoneId?: string): Promise<Page> {
  assert.ok(browser);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
    timezoneId,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) {
      problems.push(`CSP: ${message.text()}`);
    }
  });
  onEnd(t, async () => {
    await context.close();
    assert.deepEqual(problems, []);
  });
  return page;
}

async function screenshot(page: Page, name: string, keepNotice = false): Promise<void> {
  await calm(page, keepNotice);
  for (const dir of SHOTS) {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: `${dir}console-${name}.png`, fullPage: true });
  }
}

// Browser-side code as strings: the tests are compiled without the DOM's types.
const storedToken = (page: Page) =>
  page.evaluate<string | null>('sessionStorage.getItem("hookq.adminToken")');

/** No hover, no focus ring and no stale notice in a picture meant for the README. */
async function calm(page: Page, keepNotice = false): Promise<void> {
  const dismiss = page.getByRole('button', { name: 'Dismiss' });
  if (!keepNotice && (await dismiss.count()) > 0) await dismiss.click();
  await page.mouse.move(0, 0);
  await page.evaluate('document.activeElement && document.activeElement.blur()');
}

/** The overview's row of a route: its cells by column. */
function routeRow(page: Page, name: string) {
  const row = page.locator('tbody tr', {
    has: page.locator('th .route-name', { hasText: new RegExp(`^${name}$`) }),
  });
  const cell = (index: number) => row.locator('td').nth(index);
  return {
    row,
    state: cell(0),
    queued: cell(1),
    inflight: cell(2),
    delivered: cell(3),
    /** The dead-letter count, a link to them. */
    dead: cell(4).getByRole('link'),
    /** Under it, why the newest one died. */
    lastError: cell(4).locator('.last-error'),
    blocked: cell(5),
    rate: cell(7),
  };
}

/** The notice on screen, or '' when there is none. */
const notice = (page: Page) => textOf(page.locator('#notice'));

/**
 * A time as the console shows it, in the zone of the given offset from UTC: the local
 * time to the second and the offset ("2026-01-01 15:30:00 UTC+05:30").
 */
function shownIn(iso: string, offsetMinutes: number, zone: string): string {
  const local = new Date(Date.parse(iso) + offsetMinutes * 60_000).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 19)} ${zone}`;
}

test('the console is served with its content types and a strict Content-Security-Policy', async (t) => {
  const dir = tempDir('hookq-console-assets-');
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  const hookq = await startHookq(
    configFor(dir, {
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      routes: [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }],
    }),
  );
  onEnd(t, () => hookq.close(0));

  const page = await fetch(`${hookq.adminUrl}/`);
  assert.equal(page.status, 200, 'the console needs no token: it holds no data');
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style');

  for (const [path, type] of [
    ['/console/app.js', /^text\/javascript/],
    ['/console/dead-letters.js', /^text\/javascript/],
    ['/console/style.css', /^text\/css/],
  ] as const) {
    const asset = await fetch(hookq.adminUrl + path);
    assert.equal(asset.status, 200, path);
    assert.match(asset.headers.get('content-type') ?? '', type, path);
    const again = await fetch(hookq.adminUrl + path, {
      headers: { 'if-none-match': asset.headers.get('etag') ?? '' },
    });
    assert.equal(again.status, 304, `${path} is revalidated, not sent again`);
  }
  // The token still guards the API.
  assert.equal((await fetch(`${hookq.adminUrl}/api/routes`)).status, 401);
});

test('an operator signs in, finds the dead letters and redrives them by clicking', {
  skip,
  timeout: 60_000,
}, async (t) => {
  let healthy = false;
  /** Messages the target accepted, in arrival order: route, group and the sender's count. */
  const delivered: Array<{ route: string; group: string; n: number }> = [];
  const target = await TestTarget.start((received) => {
    const route = String(received.headers['hookq-route']);
    if (!healthy && route !== 'signups') return { status: 500, body: 'upstream unavailable' };
    const body = JSON.parse(received.body.toString('utf8')) as { group: string; n: number };
    delivered.push({ route, group: body.group, n: body.n });
    return 200;
  });
  onEnd(t, () => target.close());
  const dir = tempDir('hookq-console-');
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  const settings = {
    target: target.url,
    group: { header: 'X-Group' },
    retry: { maxAttempts: 2, backoff: { initial: '50ms', max: '50ms' } },
    delivery: { timeout: '2s' },
  };
  const hookq: RunningHookq = await startHookq(
    configFor(dir, {
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      routes: [
        { name: 'orders', path: '/orders', ordering: 'strict', ...settings },
        { name: 'invoices', path: '/invoices', ordering: 'fifo', ...settings },
        { name: 'signups', path: '/signups', ordering: 'fifo', ...settings },
      ],
    }),
    { pollMs: 200 },
  );
  onEnd(t, () => hookq.close(0));

  async function send(route: string, group: string, n: number) {
    const response = await fetch(`${hookq.ingressUrl}/${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-group': group },
      body: JSON.stringify({ event: `${route}.created`, group, n, amount: { value: 4200 + n } }),
    });
    assert.equal(response.status, 200, await response.text());
  }

  // orders is strict: the first message of each group dies and holds the second.
  // invoices is fifo: both messages of its group die, one after the other.
  for (const group of ['acct-1', 'acct-2', 'acct-3']) {
    await send('orders', group, 1);
    await send('orders', group, 2);
  }
  await send('invoices', 'inv-7', 1);
  await send('invoices', 'inv-7', 2);
  await waitUntil('five dead letters', async () => {
    const stats = await hookq.store.routeStats(['orders', 'invoices']);
    return stats[0]!.dead === 3 && stats[1]!.dead === 2;
  });
  // signups delivers all along, so the overview has a delivery rate to show.
  let sent = 0;
  const traffic = setInterval(() => {
    sent += 1;
    send('signups', `user-${sent % 4}`, sent).catch(() => {});
  }, 100);
  onEnd(t, () => clearInterval(traffic));

  // A zone half an hour off the hour, so an offset shown wrongly cannot look right.
  const page = await openPage(t, 'Asia/Kolkata');
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  const main = page.locator('main');
  const nav = page.getByRole('navigation', { name: 'Console' });

  // --- Sign in: a wrong token is refused on the page; the right one opens the console.
  await page.goto(`${hookq.adminUrl}/`);
  const tokenField = page.getByLabel('Admin token');
  await tokenField.waitFor();
  await tokenField.fill('not-the-token');
  await tokenField.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
  assert.equal(await storedToken(page), null);

  await tokenField.fill(TOKEN);
  await tokenField.press('Enter');
  await main.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.equal(await storedToken(page), TOKEN);

  // --- Overview: the counts, live, and pausing a route.
  const orders = routeRow(page, 'orders');
  await waitUntil('orders counts', async () => (await textOf(orders.dead)) === '3');
  assert.equal(await textOf(orders.queued), '3');
  assert.equal(await textOf(orders.blocked), '3');
  const invoices = routeRow(page, 'invoices');
  assert.equal(await textOf(invoices.dead), '2');
  // Why they died, seen from the overview: the newest dead letter's error.
  assert.equal(await textOf(orders.lastError), 'HTTP 500');
  assert.match(
    String(await orders.lastError.getAttribute('title')),
    /^Newest dead letter, .*UTC\+05:30: HTTP 500$/,
  );
  assert.equal(await routeRow(page, 'signups').lastError.count(), 0, 'signups has none');
  assert.equal(await textOf(invoices.blocked), 'n/a');
  const signups = routeRow(page, 'signups');
  await waitUntil('a delivery rate for signups', async () =>
    /^[1-9][\d.]* \/s$/.test(await textOf(signups.rate)),
  );
  // Delivered counts, each a way to the messages it counts, as queued and in flight are.
  assert.equal(await textOf(orders.delivered), '0');
  assert.match(await textOf(signups.delivered), /^[1-9]/);
  assert.equal(
    await signups.delivered.getByRole('link').getAttribute('href'),
    '#/messages?route=signups&state=delivered',
  );
  assert.match(await textOf(main.locator('.totals')), /Delivered\s*[1-9]/);
  assert.match(
    await textOf(main.locator('.meta time')),
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+05:30$/,
    'the time of the last refresh says its zone',
  );

  // --- Messages: the queued count opens the queued messages of the route.
  await orders.queued.getByRole('link').click();
  await main.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
  assert.match(page.url(), /#\/messages\?route=orders&state=queued$/);
  const listed = main.locator('tbody tr', { has: page.locator('th a') });
  await waitUntil('the three queued messages of orders', async () => (await listed.count()) === 3);
  assert.deepEqual(await listed.locator('td.mono').allTextContents(), [
    'acct-1',
    'acct-2',
    'acct-3',
  ]);
  assert.deepEqual(await listed.locator('.badge').allTextContents(), [
    'queued',
    'queued',
    'queued',
  ]);
  assert.equal(await main.getByLabel('Route').inputValue(), 'orders');
  assert.equal(await main.getByLabel('State').inputValue(), 'queued');
  await screenshot(page, 'messages');
  await main.getByLabel('State').selectOption('inflight');
  await main.getByRole('button', { name: 'Apply filters' }).click();
  await main.getByText('No message matches these filters.').waitFor();
  assert.match(page.url(), /#\/messages\?route=orders&state=inflight$/);
  await nav.getByRole('link', { name: 'Overview' }).click();
  await main.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();

  await page.getByRole('button', { name: 'Pause deliveries of invoices' }).click();
  await page.getByRole('button', { name: 'Resume deliveries of invoices' }).waitFor();
  assert.equal(await textOf(invoices.state), 'paused');
  assert.equal((await hookq.store.routeStats(['invoices']))[0]!.paused, true);
  await screenshot(page, 'overview', true);
  await page.getByRole('button', { name: 'Resume deliveries of invoices' }).click();
  // Nothing waits on invoices (its dead letters hold no group in fifo): idle, not running.
  await waitUntil('invoices idle', async () => (await textOf(invoices.state)) === 'idle');
  clearInterval(traffic);

  // --- Blocked groups: each held group with the message that holds it.
  await nav.getByRole('link', { name: 'Blocked groups' }).click();
  await main.getByRole('heading', { level: 1, name: 'Blocked groups' }).waitFor();
  const blockedRows = main.locator('section tbody tr');
  await waitUntil('three blocked groups', async () => (await blockedRows.count()) === 3);
  assert.deepEqual(await blockedRows.locator('th').allTextContents(), [
    'acct-1',
    'acct-2',
    'acct-3',
  ]);
  // Each holds its second message back.
  assert.deepEqual(await blockedRows.locator('td:nth-child(2)').allTextContents(), ['1', '1', '1']);
  const died = blockedRows.first().locator('time');
  assert.equal(
    await textOf(died),
    shownIn((await died.getAttribute('datetime'))!, 330, 'UTC+05:30'),
    'local time with its zone; the exact UTC time in datetime',
  );
  await screenshot(page, 'blocked');

  // --- A message: why it failed, attempt by attempt, and its body.
  const heldId = await textOf(blockedRows.first().getByRole('link'));
  await blockedRows.first().getByRole('link').click();
  await main.getByRole('heading', { level: 2, name: 'Attempts' }).waitFor();
  const attempts = main.locator('.timeline > li');
  assert.equal(await attempts.count(), 2);
  assert.match(await textOf(attempts.nth(1)), /Attempt 2.*HTTP 500/s);
  assert.match(await textOf(attempts.nth(1)), /upstream unavailable/);
  const body = main.getByLabel('Message body');
  assert.match(await textOf(body), /"group": "acct-1",\n {2}"n": 1/);
  await main.getByLabel('Hex').check();
  assert.match(await textOf(body), /^00000000 {2}7b 22/);
  await main.getByLabel('JSON').check();
  assert.ok((await main.getByRole('row', { name: /x-group acct-1/ }).count()) === 1);
  await screenshot(page, 'message');

  // --- Dead letters: select, filter, redrive with confirmation.
  await nav.getByRole('link', { name: 'Dead letters' }).click();
  await main.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
  const rows = main.locator('tbody tr', { has: page.getByRole('checkbox') });
  await waitUntil('five dead letters listed', async () => (await rows.count()) === 5);
  const redriveSelected = main.getByRole('button', { name: 'Redrive selected' });
  const discardSelected = main.getByRole('button', { name: 'Discard selected' });
  assert.equal(await redriveSelected.isDisabled(), true, 'nothing selected: nothing to redrive');
  assert.equal(await discardSelected.isDisabled(), true);
  await rows.first().getByRole('checkbox').check();
  assert.equal(await redriveSelected.isEnabled(), true);
  assert.equal(await discardSelected.isEnabled(), true);
  await main.getByLabel('Select all dead letters shown').check();
  await page.getByText('5 selected').waitFor();
  await screenshot(page, 'dead-letters');

  // The error text is filtered in the page, so "all matching" goes by id.
  await main.getByLabel('Route').selectOption('invoices');
  await main.getByLabel('Error contains').fill('HTTP 500');
  await main.getByLabel('Error contains').press('Enter');
  await waitUntil('filtered to invoices', async () => (await rows.count()) === 2);
  assert.match(page.url(), /#\/dead\?route=invoices&error=HTTP\+500$/);
  healthy = true;
  await main.getByRole('button', { name: 'Redrive all matching' }).click();
  const all = page.getByRole('dialog', { name: 'Redrive all 2 matching dead letters?' });
  await all.waitFor();
  assert.match(await textOf(all), /route invoices, error containing "HTTP 500"/);
  await all.getByRole('button', { name: 'Redrive 2 dead letters' }).click();
  await page.getByText('Redrove 2 dead letters.').waitFor();
  await main.getByText('No dead letter matches these filters.').waitFor();

  await main.getByRole('button', { name: 'Clear' }).click();
  await waitUntil('the three of orders left', async () => (await rows.count()) === 3);
  await main.getByLabel('Select all dead letters shown').check();
  const dialog = page.getByRole('dialog', { name: 'Redrive 3 dead letters?' });
  // Escape cancels, and nothing moves.
  await redriveSelected.click();
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await hookq.store.routeStats(['orders']))[0]!.dead, 3);
  await redriveSelected.click();
  await dialog.waitFor();
  assert.match(await textOf(dialog), /Selected: 3 of orders\./);
  await dialog.getByRole('button', { name: 'Redrive 3 dead letters' }).click();
  await page.getByText('Redrove 3 dead letters.').waitFor();
  // The list starts afresh with nothing selected; the focus stays on the page.
  await waitUntil('the selection cleared', () => redriveSelected.isDisabled());
  assert.equal(await page.evaluate('document.activeElement === document.body'), false);
  // The notice is about this page: it goes with it.
  await nav.getByRole('link', { name: 'Overview' }).click();
  await main.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.equal(await notice(page), '');
  await nav.getByRole('link', { name: 'Dead letters' }).click();

  // The target gets every message, each group in the order it was sent.
  const ofGroup = (route: string, group: string) =>
    delivered.filter((d) => d.route === route && d.group === group).map((d) => d.n);
  await waitUntil(
    'the redriven messages and those they held delivered',
    () =>
      ['acct-1', 'acct-2', 'acct-3'].every((g) => ofGroup('orders', g).length === 2) &&
      ofGroup('invoices', 'inv-7').length === 2,
  );
  for (const group of ['acct-1', 'acct-2', 'acct-3']) {
    assert.deepEqual(ofGroup('orders', group), [1, 2], `orders ${group}`);
  }
  assert.deepEqual(ofGroup('invoices', 'inv-7'), [1, 2]);
  await main.getByText('No dead letters').waitFor();

  // A delivered message can be replayed: a copy goes to the target again.
  await page.goto(`${hookq.adminUrl}/#/message/${heldId}`);
  await main.locator('dl').getByText('delivered', { exact: true }).waitFor();
  assert.equal(
    await main.getByRole('link', { name: '← Messages of orders' }).getAttribute('href'),
    '#/messages?route=orders&state=delivered',
  );
  await main.getByRole('button', { name: 'Replay' }).click();
  await page.getByText('Replayed as a new message').waitFor();
  await waitUntil('the replayed copy delivered', () => ofGroup('orders', 'acct-1').length === 3);
  assert.deepEqual(ofGroup('orders', 'acct-1'), [1, 2, 1]);

  // The token never left the Authorization header, and signing out forgets it.
  assert.ok(!page.url().includes(TOKEN));
  assert.deepEqual(
    urls.filter((url) => url.includes(TOKEN)),
    [],
  );
  await page.getByRole('button', { name: 'Sign out' }).click();
  await tokenField.waitFor();
  assert.equal(await storedToken(page), null);
});

test('a down target shows red with its error, and Retry now sends what it holds once the application is back', {
  skip,
  timeout: 60_000,
}, async (t) => {
  // The application is away: its port refuses connections.
  const app = await TestTarget.start();
  await app.down();
  onEnd(t, () => app.close());
  const dir = tempDir('hookq-console-outage-');
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  const hookq = await startHookq(
    configFor(dir, {
      routes: [
        {
          name: 'payments',
          path: '/payments',
          target: app.url,
          // Neither a retry nor a probe comes by itself within the test: only the button.
          retry: { maxAttempts: 3, backoff: { initial: '1m', max: '1m' } },
          delivery: { timeout: '2s', breaker: { after: 1, probe: { initial: '1m', max: '1m' } } },
        },
        { name: 'signups', path: '/signups', target: app.url },
      ],
    }),
    { pollMs: 200 },
  );
  onEnd(t, () => hookq.close(0));
  const sent = await fetch(`${hookq.ingressUrl}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payment: 'pay-1', amount: 4200 }),
  });
  const { messageId } = (await sent.json()) as { messageId: string };
  await waitUntil(
    'payments down',
    async () => (await hookq.store.routeStats(['payments']))[0]!.health.state === 'down',
  );

  const page = await openPage(t);
  await page.goto(`${hookq.adminUrl}/`);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  const payments = routeRow(page, 'payments');
  // Under the route's row, across the table: since when, why, and when hookq looks again.
  const outage = page.locator('tr[data-outage-of="payments"]');
  await waitUntil('payments shown down', async () =>
    /^payments: Target down for \d+ s · /.test(await textOf(outage)),
  );
  assert.equal(await outage.isVisible(), true);
  const stateBadge = payments.state.locator('.badge');
  assert.equal(await textOf(stateBadge), 'stuck');
  assert.match((await stateBadge.getAttribute('class')) ?? '', /\bbad\b/);
  const port = new URL(app.url).port;
  assert.match(
    await textOf(outage.locator('.error-text')),
    new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
  );
  assert.match(await textOf(outage), /Next probe in (\d+ s|1 min)\.$/);
  // Red: the colour the console gives everything bad.
  const colour = (locator: Locator) =>
    locator.evaluate('(element) => getComputedStyle(element).color');
  const bad = await colour(stateBadge);
  assert.equal(await colour(outage.locator('strong')), bad);
  assert.equal(await colour(payments.row.locator('.target')), bad);
  assert.equal(await textOf(routeRow(page, 'signups').state), 'idle');
  assert.equal(await page.locator('tr[data-outage-of="signups"]').count(), 0);
  await screenshot(page, 'outage');

  // Back, but hookq would only find out at the next probe, a minute away.
  await app.up();
  const call = page.waitForRequest(
    (request) =>
      request.method() === 'POST' && request.url().endsWith('/api/routes/payments/retry-now'),
  );
  await page.getByRole('button', { name: 'Retry the waiting messages of payments now' }).click();
  assert.deepEqual((await call).postDataJSON(), {});
  await page
    .getByText(
      'Retry now on payments: 1 waiting message made due; the target is down, so the next probe goes now.',
    )
    .waitFor();
  await app.waitFor((received) => received.length === 1, 10_000);
  assert.equal(app.received[0]!.headers['hookq-message-id'], messageId);
  await waitUntil('payments idle and up', async () => (await textOf(payments.state)) === 'idle');
  assert.doesNotMatch((await payments.row.getAttribute('class')) ?? '', /target-down/);
  assert.equal(await outage.count(), 0, 'the outage line is gone');
});

test('without a token configured (loopback), the console opens without signing in', {
  skip,
  timeout: 30_000,
}, async (t) => {
  const dir = tempDir('hookq-console-open-');
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  const hookq = await startHookq(
    configFor(dir, {
      routes: [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }],
    }),
  );
  onEnd(t, () => hookq.close(0));
  const page = await openPage(t);
  await page.goto(`${hookq.adminUrl}/#/dead`);
  await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
  await page.getByText('No dead letters').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
});

test('a notice stays with the page it is about, and every time says its zone', {
  skip,
  timeout: 30_000,
}, async (t) => {
  const target = await TestTarget.start(() => ({ status: 422, body: 'no such customer' }));
  onEnd(t, () => target.close());
  const dir = tempDir('hookq-console-notices-');
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  const hookq = await startHookq(
    configFor(dir, {
      routes: [{ name: 'orders', path: '/orders', target: target.url, retry: { maxAttempts: 1 } }],
    }),
    { pollMs: 200 },
  );
  onEnd(t, () => hookq.close(0));
  const sent = await fetch(`${hookq.ingressUrl}/orders`, { method: 'POST', body: '{"n":1}' });
  const { messageId } = (await sent.json()) as { messageId: string };
  await waitUntil(
    'the message dead',
    async () => (await hookq.store.routeStats(['orders']))[0]!.dead === 1,
  );

  const page = await openPage(t, 'UTC');
  const main = page.locator('main');
  await page.goto(`${hookq.adminUrl}/#/message/${messageId}`);
  const finished = main.locator('.facts div', { hasText: 'Finished' }).locator('time');
  await finished.waitFor();
  assert.equal(
    await textOf(finished),
    shownIn((await finished.getAttribute('datetime'))!, 0, 'UTC'),
  );

  // Discarding leads to the dead letters, and the notice comes along: it is about them.
  await main.getByRole('button', { name: 'Discard…' }).click();
  await page
    .getByRole('dialog', { name: 'Discard this dead letter?' })
    .getByRole('button', { name: 'Discard 1 dead letter' })
    .click();
  await main.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
  assert.match(page.url(), /#\/dead\?route=orders$/);
  await main.getByText('No dead letter matches these filters.').waitFor();
  assert.match(await notice(page), new RegExp(`^Discarded message ${messageId}\\.`));
  assert.equal(
    await main.getByRole('button', { name: 'Redrive all matching' }).isDisabled(),
    true,
    'nothing matches: nothing to redrive',
  );
  // Moving on leaves it behind.
  await page
    .getByRole('navigation', { name: 'Console' })
    .getByRole('link', { name: 'Blocked groups' })
    .click();
  await main.getByRole('heading', { level: 1, name: 'Blocked groups' }).waitFor();
  assert.equal(await notice(page), '');
});
