/**
 * The outcome of checking a webhook's signature. `reason` is shown to the sender and
 * logged, so it names what was wrong but never a secret or the expected signature.
 */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

export const VERIFIED: VerifyResult = { ok: true };

export function rejected(reason: string): VerifyResult {
  return { ok: false, reason };
}

/** A webhook as its signature is checked: the headers and exact body bytes it came with. */
export interface SignedRequest {
  /** Looks up a request header by its lower-cased name. */
  header: (lowerCaseName: string) => string | undefined;
  body: Buffer;
  /** The current time in epoch milliseconds, for the timestamped schemes. */
  nowMs: number;
}

/** The settings of a scheme whose signature covers a sender's timestamp. */
export interface TimedSecrets {
  secrets: readonly string[];
  toleranceMs: number;
}

/** Reads a header; an empty value counts as absent, since it cannot carry a signature. */
export function readHeader(request: SignedRequest, name: string): string | undefined {
  const value = request.header(name.toLowerCase())?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function missing(headerName: string): VerifyResult {
  return rejected(`missing ${headerName} header`);
}

export function malformed(headerName: string): VerifyResult {
  return rejected(`malformed ${headerName} header`);
}
