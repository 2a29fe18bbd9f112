/** Waiting in tests: for a while, or for something to hold. */

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll `predicate` every 20 ms; fail naming `what` if it does not hold within `timeoutMs`. */
export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms`);
    await delay(20);
  }
}
