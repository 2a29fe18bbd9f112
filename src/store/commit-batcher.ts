/**
 * Group commit: calls that arrive while a commit is being prepared or is running are
 * gathered into the next commit, so many writes share one transaction and one fsync.
 * Without it, throughput would fall to one durable commit per message.
 */
export class CommitBatcher<I, O> {
  private pending: Array<{
    item: I;
    resolve: (out: O) => void;
    reject: (error: unknown) => void;
  }> = [];
  private running = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  /**
   * @param commit commits all items in one transaction and settles each one, in order:
   *   an item can fail on its own (its part rolled back) without failing the others. If
   *   `commit` throws, every item of the batch fails with that error.
   * @param maxBatch most items in one commit.
   * @param maxCommits most commits running at once: while one waits for its fsync, the
   *   next can be prepared, and the database flushes their WAL together. Items that must
   *   commit in a given order have to see to it themselves (PostgreSQL enqueues lock
   *   their groups).
   */
  constructor(
    private readonly commit: (
      items: I[],
    ) => PromiseSettledResult<O>[] | Promise<PromiseSettledResult<O>[]>,
    private readonly maxBatch: number,
    private readonly maxCommits = 1,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far has been committed or has failed. */
  drain(): Promise<void> {
    if (this.running === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.maxCommits) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests whose bytes are already waiting in
    // the event loop get to join this commit.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.running++;
    // Room for another commit: what arrives meanwhile need not wait for this one.
    if (this.pending.length > 0) this.schedule();
    try {
      const results = await this.commit(batch.map((entry) => entry.item));
      for (const [index, entry] of batch.entries()) {
        const result = results[index];
        if (result?.status === 'fulfilled') entry.resolve(result.value);
        else entry.reject(result?.reason ?? new Error('the commit gave no result for this item'));
      }
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
    this.running--;
    if (this.pending.length > 0) {
      this.schedule();
    } else if (this.running === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
