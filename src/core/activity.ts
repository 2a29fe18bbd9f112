/**
 * What happens to messages as this process sees it, for whoever follows live (the admin
 * API's event stream, `hookq tail`). Nothing here is stored: a follower sees what happens
 * while it follows, and on several instances each one streams only its own.
 */
export type ActivityEvent =
  | {
      type: 'accepted';
      at: number;
      route: string;
      messageId: string;
      group: string;
      sequence: number;
    }
  | {
      type: 'attempt';
      at: number;
      route: string;
      messageId: string;
      group: string;
      sequence: number;
      /** The attempt's number since acceptance or the last redrive. */
      attempt: number;
      outcome: string;
      status: number | null;
      durationMs: number;
      error: string | null;
      /** What the message does next. */
      next: 'delivered' | 'retry' | 'dead';
      retryAt: number | null;
      deadReason: string | null;
    }
  | {
      type: 'target';
      at: number;
      route: string;
      state: 'up' | 'down';
      error: string | null;
    };

type Listener = (event: ActivityEvent) => void;

export class Activity {
  private readonly listeners = new Set<Listener>();

  /**
   * Whether anyone follows. Publishers check it first, so that with no follower the hot
   * path does not even build the event.
   */
  get followed(): boolean {
    return this.listeners.size > 0;
  }

  publish(event: ActivityEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Follow; the returned function stops following. */
  follow(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
