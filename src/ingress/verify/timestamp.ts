import { formatDuration } from '../../core/units.js';
import type { SignedRequest, TimedSecrets } from './result.js';

/**
 * Checks a sender's unix-seconds timestamp against the clock. Returns the rejection
 * reason, or null when the timestamp is fresh. Both stale and future timestamps are
 * refused: a signed request replayed later, or pre-signed for later, must not pass.
 */
export function timestampProblem(
  text: string,
  headerName: string,
  request: SignedRequest,
  { toleranceMs }: TimedSecrets,
): string | null {
  const seconds = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(seconds)) return `malformed ${headerName} timestamp`;
  if (Math.abs(request.nowMs - seconds * 1000) > toleranceMs) {
    return `timestamp outside the ${formatDuration(toleranceMs)} tolerance`;
  }
  return null;
}
