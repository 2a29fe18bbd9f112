/**
 * The outcome of checking a webhook's signature. `reason` is shown to the sender and
 * logged, so it names what was wrong but never a secret or the expected signature.
 */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

export const VERIFIED: VerifyResult = { ok: true };

export function rejected(reason: string): VerifyResult {
  return { ok: false, reason };
}

/** Reads a header; an empty value counts as absent, since it cannot carry a signature. */
export function readHeader(
  header: (lowerCaseName: string) => string | undefined,
  name: string,
): string | undefined {
  const value = header(name.toLowerCase())?.trim();
  return value === undefined || value === '' ? undefined : value;
}
