/** Clean-ups that run when a test ends, whatever happened in it. */
import { rmSync } from 'node:fs';
import type { TestContext } from 'node:test';

const cleanups = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Run `fn` when the test ends, whatever happened. Last registered runs first, so a
 * process is stopped before the directory holding its database is removed.
 */
export function onEnd(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const registered: Array<() => unknown> = [];
    stack = registered;
    cleanups.set(t, registered);
    t.after(async () => {
      const failures: unknown[] = [];
      for (const cleanup of registered.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          failures.push(error);
        }
      }
      if (failures.length > 0) throw failures[0];
    });
  }
  stack.push(fn);
}

/** Remove a test's directory when it ends. */
export function removeAfter(t: TestContext, dir: string): string {
  onEnd(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
