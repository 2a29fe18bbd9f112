/** What the alert tests share: hookq in this process with its log kept, and the alerts a receiver got. */
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import type { AlertEvent } from '../../src/alerts/events.js';
import { type RunningHookq, type StartOptions, startHookq } from '../../src/app.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { configFor, tempDir } from '../helpers/config.js';
import type { TestTarget } from '../helpers/target.js';

export type LogEntry = Record<string, unknown>;

/** A logger whose lines are kept, parsed, in `logs`. */
export function keptLog(level = 'info') {
  const logs: LogEntry[] = [];
  const log = pino({ level }, { write: (line: string) => logs.push(JSON.parse(line)) });
  return { log, logs };
}

/** hookq on a SQLite file of its own, stopped when the test ends. */
export async function startWithAlerts(
  t: TestContext,
  file: Parameters<typeof configFor>[1],
  options: StartOptions = {},
): Promise<{ hookq: RunningHookq; logs: LogEntry[] }> {
  const dir = removeAfter(t, tempDir('hookq-alerts-'));
  const { log, logs } = keptLog();
  const hookq = await startHookq(configFor(dir, file), { log, ...options });
  onEnd(t, () => hookq.close(1_000));
  return { hookq, logs };
}

/** POST a webhook to a route; fails the test unless it is stored. */
export async function send(hookq: RunningHookq, path: string, body: string): Promise<string> {
  const response = await fetch(`${hookq.ingressUrl}${path}`, { method: 'POST', body });
  const answer = (await response.json()) as { messageId?: string; error?: string };
  if (response.status !== 200 || answer.messageId === undefined) {
    throw new Error(`ingress answered ${response.status} ${JSON.stringify(answer)}`);
  }
  return answer.messageId;
}

/** The alerts a receiver got, in arrival order. */
export function alertsOf(receiver: TestTarget): AlertEvent[] {
  return receiver.received.map((request) => JSON.parse(request.body.toString('utf8')));
}

/** The alerts of one type a receiver got. */
export function alertsOfType<Type extends AlertEvent['type']>(
  receiver: TestTarget,
  type: Type,
): Array<Extract<AlertEvent, { type: Type }>> {
  return alertsOf(receiver).filter(
    (event): event is Extract<AlertEvent, { type: Type }> => event.type === type,
  );
}

export function logsSaying(logs: readonly LogEntry[], msg: string): LogEntry[] {
  return logs.filter((entry) => entry.msg === msg);
}

/** RFC 3339 as `Date.toISOString` writes it. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
