// The types of limits.js for the server's TypeScript, which reads no JavaScript; the
// values are in limits.js alone.

export declare const MAX_PAGE: number;
export declare const MAX_REDRIVE_IDS: number;
