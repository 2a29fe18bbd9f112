import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Activity, ActivityEvent } from '../core/activity.js';

/**
 * Bytes a follower may leave unread before events are skipped for it: a stalled
 * `hookq tail` must not make the server hold every event in memory. It is told how many
 * it missed once it reads again.
 */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

/**
 * The admin API's server-sent events: each message accepted and each attempt's outcome
 * as this instance sees them, as `event: <type>` with a JSON `data` line.
 */
export class EventStreams {
  private readonly responses = new Set<ServerResponse>();

  constructor(private readonly activity: Activity) {}

  open(request: FastifyRequest, reply: FastifyReply, route: string | undefined): void {
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies such as nginx would otherwise hold events back to fill a buffer.
      'x-accel-buffering': 'no',
    });
    response.write(': following\n\n');
    let missed = 0;
    const stop = this.activity.follow((event) => {
      if (route !== undefined && event.route !== route) return;
      if (response.writableLength > MAX_UNREAD_BYTES) {
        missed++;
        return;
      }
      if (missed > 0) {
        response.write(`event: missed\ndata: ${JSON.stringify({ count: missed })}\n\n`);
        missed = 0;
      }
      response.write(`event: ${event.type}\ndata: ${JSON.stringify(view(event))}\n\n`);
    });
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    this.responses.add(response);
    request.raw.socket.once('close', () => {
      stop();
      clearInterval(keepAlive);
      this.responses.delete(response);
    });
  }

  /** Ends every stream, for a listener that is closing. */
  endAll(): void {
    for (const response of this.responses) response.end();
  }
}

/** Times as RFC 3339 and sequences as decimal text, as everywhere in the admin API. */
function view(event: ActivityEvent): Record<string, unknown> {
  const at = new Date(event.at).toISOString();
  switch (event.type) {
    case 'accepted':
      return { ...event, at, sequence: String(event.sequence) };
    case 'attempt':
      return {
        ...event,
        at,
        sequence: String(event.sequence),
        retryAt: event.retryAt === null ? null : new Date(event.retryAt).toISOString(),
      };
    case 'target':
      return { ...event, at };
  }
}
