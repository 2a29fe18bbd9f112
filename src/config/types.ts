import type { DedupRule } from '../core/dedup.js';
import type { GroupRule } from '../core/group.js';
import type { BreakerPolicy } from '../core/outage.js';
import type { RetentionPolicy } from '../core/retention.js';
import type { RetryPolicy } from '../core/retry.js';
import type { Ordering } from '../core/terms.js';
import type { StorageLocation } from '../store/location.js';

/**
 * The configuration after loading: `${ENV}` replaced, durations in milliseconds, sizes
 * in bytes, and every route merged with `defaults`. The YAML form is in SPEC §3 and
 * in `hookq.example.yaml`.
 */
export interface HookqConfig {
  server: { host: string; port: number };
  admin: {
    host: string;
    port: number;
    token: string | null;
    /** Origins besides its own whose pages may call the admin listener (a reverse proxy's). */
    allowedOrigins: string[];
  };
  storage: StorageLocation;
  routes: RouteConfig[];
}

export interface RouteConfig {
  name: string;
  /** Ingress path, starting with `/`. */
  path: string;
  /** Where deliveries go: an http(s) URL. */
  target: string;
  /** Undefined: every message of the route is in the group named after the route. */
  group: GroupRule | undefined;
  dedup: DedupRule & { windowMs: number };
  ordering: Ordering;
  maxBodyBytes: number;
  retry: RetryPolicy;
  delivery: {
    timeoutMs: number;
    maxConcurrency: number;
    /** Most attempts started per second, on all instances together; undefined: no limit. */
    maxPerSecond: number | undefined;
    /** Null: `breaker: off`. */
    breaker: BreakerPolicy | null;
  };
  retention: RetentionPolicy;
  /** `all` end-to-end request headers, or only these names (lower-cased). */
  forwardHeaders: 'all' | string[];
  verify: VerifyConfig | undefined;
  /** Sign forwarded requests with Standard Webhooks headers. */
  sign: { secret: string } | undefined;
  /**
   * Where alerts about the route go: its own `notify`, else the top-level one. Absent
   * (not undefined) when there is neither, or the route says `notify: off`.
   */
  notify?: NotifyConfig;
}

/** An alert receiver (`notify`): hookq POSTs a JSON event there on each change it sees. */
export interface NotifyConfig {
  /** An http(s) URL; never logged, since a chat webhook's path is its credential. */
  url: string;
  /** Sent with every alert, names lower-cased, such as an `authorization` for a bridge. */
  headers: Array<[string, string]>;
  /** How often the routes' counts and health are read from the store. */
  checkEveryMs: number;
  /** One POST, connection to response, must fit in this. */
  timeoutMs: number;
  /** Tries after the first, on network errors, timeouts, 5xx and 429. */
  retries: number;
}

/**
 * Signature verification of incoming webhooks. `secrets` holds one or more secrets; a
 * signature made with any of them is accepted, so secrets can be rotated.
 */
export type VerifyConfig =
  | { scheme: 'github'; secrets: string[] }
  | { scheme: 'stripe'; secrets: string[]; toleranceMs: number }
  | { scheme: 'standard-webhooks'; secrets: string[]; toleranceMs: number }
  | { scheme: 'shopify'; secrets: string[] }
  | { scheme: 'slack'; secrets: string[]; toleranceMs: number }
  | {
      scheme: 'hmac-sha256';
      secrets: string[];
      /** Header carrying the signature (lower-cased). */
      header: string;
      encoding: 'hex' | 'base64';
      /** Text before the signature in the header, e.g. `sha256=`. */
      prefix: string;
    };

export type VerifyScheme = VerifyConfig['scheme'];
