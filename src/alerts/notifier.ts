import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { honoursRetryAfter, parseRetryAfter } from '../core/outage.js';
import type { Logger } from '../log.js';
import type { AlertEvent } from './events.js';

export interface NotifierOptions {
  /** The receiver, an http(s) URL. Only its origin is ever logged. */
  url: string;
  /** Extra request headers, names lower-cased. */
  headers: ReadonlyArray<readonly [string, string]>;
  timeoutMs: number;
  /** Tries after the first, for failures that may pass: network errors, timeouts, 5xx, 429. */
  retries: number;
  /** `hookq/<version>`. */
  userAgent: string;
  log: Logger;
}

/** Most alerts waiting per receiver; beyond it the oldest goes, as the newest tell the state now. */
export const MAX_WAITING_ALERTS = 100;
/** First wait before a retry; it doubles each time, up to RETRY_MAX_MS. */
const RETRY_INITIAL_MS = 1_000;
const RETRY_MAX_MS = 30_000;

type Outcome =
  | { kind: 'sent' }
  | { kind: 'retry'; error: string; afterMs?: number }
  | { kind: 'refused'; error: string };

/**
 * Sends alerts to one receiver, one at a time and in order, with its own retries.
 * Best effort, by design: alerts live only in memory, and `send` never waits or throws,
 * so a slow or dead receiver costs deliveries and ingress nothing. It has its own
 * connection pool rather than the delivery Forwarder's, whose results are attempts of
 * messages; an alert is not a message and records nothing in the store.
 */
export class Notifier {
  private readonly waiting: AlertEvent[] = [];
  private current: AlertEvent | undefined;
  private draining: Promise<void> | undefined;
  private readonly closed = new AbortController();
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly path: string;
  private readonly log: Logger;

  constructor(private readonly options: NotifierOptions) {
    const url = new URL(options.url);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    // The path and query are left out of the log: a chat webhook's path is its credential.
    this.log = options.log.child({ notify: this.origin });
    this.agent = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: options.timeoutMs } });
  }

  /** Queue an alert; it is sent after those queued before it. */
  send(event: AlertEvent): void {
    if (this.closed.signal.aborted) return;
    if (this.waiting.length >= MAX_WAITING_ALERTS) {
      const dropped = this.waiting.shift()!;
      this.log.warn(
        { type: dropped.type, route: dropped.route, waiting: MAX_WAITING_ALERTS },
        'alert dropped: too many alerts wait for the receiver; newer ones are kept',
      );
    }
    this.waiting.push(event);
    this.draining ??= this.drain();
  }

  /** Stop: what is being sent is cut off, and what waits is dropped (and counted in the log). */
  async close(): Promise<void> {
    const unsent = this.waiting.length + (this.current ? 1 : 0);
    this.closed.abort();
    this.waiting.length = 0;
    await this.draining;
    await this.agent.destroy();
    if (unsent > 0) this.log.warn({ unsent }, 'alerts not sent at shutdown were dropped');
  }

  private async drain(): Promise<void> {
    try {
      for (let event = this.waiting.shift(); event; event = this.waiting.shift()) {
        this.current = event;
        await this.deliver(event);
        this.current = undefined;
      }
    } finally {
      // In the same turn as the loop's last check, so an alert queued later starts a new drain.
      this.draining = undefined;
    }
  }

  private async deliver(event: AlertEvent): Promise<void> {
    const body = JSON.stringify(event);
    const what = { type: event.type, route: event.route };
    let waitMs = RETRY_INITIAL_MS;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.post(body);
      if (this.closed.signal.aborted) return;
      if (outcome.kind === 'sent') {
        this.log.info({ ...what, attempts: attempt }, 'alert sent');
        return;
      }
      if (outcome.kind === 'refused') {
        this.log.warn(
          { ...what, attempts: attempt, error: outcome.error },
          'alert dropped: the receiver refused it',
        );
        return;
      }
      if (attempt > this.options.retries) {
        this.log.warn(
          { ...what, attempts: attempt, error: outcome.error },
          'alert dropped: the receiver failed every try',
        );
        return;
      }
      const delayMs = Math.min(RETRY_MAX_MS, outcome.afterMs ?? waitMs);
      this.log.debug({ ...what, attempt, error: outcome.error, delayMs }, 'alert will be retried');
      try {
        await sleep(delayMs, undefined, { signal: this.closed.signal });
      } catch {
        return; // closed while waiting
      }
      waitMs = Math.min(RETRY_MAX_MS, waitMs * 2);
    }
  }

  private async post(body: string): Promise<Outcome> {
    const signal = AbortSignal.any([
      this.closed.signal,
      AbortSignal.timeout(this.options.timeoutMs),
    ]);
    try {
      const response = await this.agent.request({
        origin: this.origin,
        path: this.path,
        method: 'POST',
        headers: [
          'content-type',
          'application/json',
          'user-agent',
          this.options.userAgent,
          ...this.options.headers.flat(),
        ],
        body,
        signal,
      });
      // Read to the end so that the connection can be reused; the content is not needed.
      await response.body.dump();
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { kind: 'sent' };
      const error = `HTTP ${status}`;
      if (status === 429 || status >= 500) {
        const header = response.headers['retry-after'];
        const afterMs = honoursRetryAfter(status)
          ? parseRetryAfter(Array.isArray(header) ? header[0] : header, Date.now())
          : undefined;
        return { kind: 'retry', error, afterMs };
      }
      return { kind: 'refused', error };
    } catch (error) {
      if (signal.aborted && !this.closed.signal.aborted) {
        return { kind: 'retry', error: `no response within ${this.options.timeoutMs}ms` };
      }
      return { kind: 'retry', error: error instanceof Error ? error.message : String(error) };
    }
  }
}
