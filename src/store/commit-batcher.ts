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
  private busy = false;
  private idleWaiters: Array<() => void> = [];

  /**
   * @param commit commits all items in one transaction and settles each one, in order:
   *   an item can fail on its own (its part rolled back) without failing the others. If
   *   `commit` throws, every item of the batch fails with that error.
   * @param maxBatch most items in one commit.
   */
  constructor(
    private readonly commit: (
      items: I[],
    ) => PromiseSettledResult<O>[] | Promise<PromiseSettledResult<O>[]>,
    private readonly maxBatch: number,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far has been committed or has failed. */
  drain(): Promise<void> {
    if (!this.busy && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.busy) return;
    this.busy = true;
    // setImmediate, not a microtask: requests whose bytes are already waiting in
    // the event loop get to join this commit.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.maxBatch);
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
    this.busy = false;
    if (this.pending.length > 0) {
      this.schedule();
    } else {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
