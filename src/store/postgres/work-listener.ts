import pg from 'pg';

/**
 * LISTENs for the notifications instances send when a route has new work (an enqueue,
 * a redrive, a resume), so every instance's dispatcher wakes at once. If the connection
 * drops it reconnects with backoff; meanwhile the dispatchers' bounded polling finds
 * the work, only later.
 *
 * What this process's own sessions notified is not passed on: the store told its
 * dispatcher when that change committed, and hearing it again would only send a second
 * claim after the first.
 */
export class WorkListener {
  private readonly listeners = new Set<(route: string) => void>();
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = 500;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    /** The backend process ids of this process's own sessions (its pool's connections). */
    private readonly ownSessions: ReadonlySet<number>,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  subscribe(listener: (route: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(route: string): void {
    for (const listener of this.listeners) listener(route);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('notification', (notification) => {
      if (notification.payload && !this.ownSessions.has(notification.processId)) {
        this.emit(notification.payload);
      }
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    this.retryMs = 500;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.reconnectLater();
  }

  private reconnectLater(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.connect().catch(() => {
        // Short: until it is back, other instances' work waits for the polling fallback.
        this.retryMs = Math.min(this.retryMs * 2, 2_000);
        this.reconnectLater();
      });
    }, this.retryMs);
  }
}
