import pg from 'pg';

/**
 * Work that one instance of those sharing a schema does for all of them (sending alerts):
 * a role is held by whichever instance holds its session advisory lock, on a connection
 * of its own. PostgreSQL lets the lock go when that session ends, so an instance that dies
 * or loses the database hands its roles on by itself, and another takes them at its next
 * try. Nothing is written: a role costs one connection per instance and one query per try.
 */
export class Roles {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly held = new Set<string>();
  private closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly schema: string,
  ) {}

  /**
   * Whether this instance holds `role`, taking it if no other live session does.
   * Rejects when the database cannot be asked; the role is not held then.
   */
  async take(role: string): Promise<boolean> {
    if (this.closed) return false;
    const client = await this.connected();
    // A held lock lasts as long as the session: while this connection is the one that
    // took it, there is nothing to ask.
    if (this.held.has(role) && this.client === client) return true;
    const { rows } = await client.query<{ taken: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS taken',
      [`hookq-role:${this.schema}`, role],
    );
    if (rows[0]?.taken) this.held.add(role);
    return this.held.has(role);
  }

  /** Let every role go (the session ends). */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.drop(client);
    await client?.end().catch(() => undefined);
  }

  private connected(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client(this.config);
    // The session, and with it every lock it held, is gone: the next try starts another.
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('the store is closed');
    }
    this.client = client;
    return client;
  }

  private drop(client: pg.Client | undefined): void {
    if (!client || this.client !== client) return;
    this.client = undefined;
    this.held.clear();
    client.end().catch(() => undefined);
  }
}
