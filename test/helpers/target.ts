import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { delay } from './async.js';

/** One request the target received. */
export interface Received {
  headers: IncomingHttpHeaders;
  /** Headers as sent: [name, value] in order, names lower-cased. */
  rawHeaders: Array<[string, string]>;
  body: Buffer;
  at: number;
  /** When the answer was written; undefined while it is pending, or if none was. */
  answeredAt?: number;
}

/**
 * What the target does with a request: answer a status (and optional body), at once or
 * `afterMs` later (an attempt then stays in flight long enough for a signal or a kill to
 * land during it), hang until the client gives up, or cut the connection.
 */
export type Behaviour = (
  request: Received,
  index: number,
) =>
  | number
  | { status: number; body?: string; headers?: Record<string, string>; afterMs?: number }
  | 'hang'
  | 'reset';

/**
 * A real HTTP server standing in for the application behind hookq. It records every
 * request in arrival order, and when each was answered; it can be taken down
 * (connections refused) and brought back on the same port.
 */
export class TestTarget {
  readonly received: Received[] = [];
  behaviour: Behaviour = () => 200;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  static async start(behaviour?: Behaviour): Promise<TestTarget> {
    const target = new TestTarget();
    if (behaviour) target.behaviour = behaviour;
    await target.up();
    return target;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  /** Listen (again, on the same port once it has one). */
  async up(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const rawHeaders: Array<[string, string]> = [];
        for (let i = 0; i < request.rawHeaders.length; i += 2) {
          rawHeaders.push([request.rawHeaders[i]!.toLowerCase(), request.rawHeaders[i + 1]!]);
        }
        const received: Received = {
          headers: request.headers,
          rawHeaders,
          body: Buffer.concat(chunks),
          at: Date.now(),
        };
        const index = this.received.length;
        this.received.push(received);
        this.answer(this.behaviour(received, index), received, response);
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and cut every connection: new attempts are refused. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Requests whose header `name` has `value`. */
  with(name: string, value: string): Received[] {
    return this.received.filter((r) => r.headers[name] === value);
  }

  /** Wait until `predicate` holds for what was received, or fail after `timeoutMs`. */
  async waitFor(predicate: (received: Received[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) {
        throw new Error(
          `the target did not get what was expected within ${timeoutMs}ms (${this.received.length} requests)`,
        );
      }
      await delay(20);
    }
  }

  async close(): Promise<void> {
    await this.down();
  }

  private answer(
    action: ReturnType<Behaviour>,
    received: Received,
    response: ServerResponse,
  ): void {
    if (action === 'hang') return; // the client times out; the socket closes with the server
    if (action === 'reset') {
      response.socket?.destroy();
      return;
    }
    const { status, body, headers, afterMs } =
      typeof action === 'number' ? { status: action } : action;
    const write = () => {
      // The client gave up, or the target went down, while the answer waited.
      if (response.destroyed) return;
      response.writeHead(status, { 'content-type': 'text/plain', ...headers });
      response.end(body ?? (status < 300 ? 'ok' : `status ${status}`), () => {
        received.answeredAt = Date.now();
      });
    };
    if (afterMs === undefined) write();
    else setTimeout(write, afterMs);
  }
}
