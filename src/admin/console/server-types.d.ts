// The console's check reads the API's schemas (../schemas.ts) for the shapes of its
// answers, and through them the server's own types, one of which names Node's Buffer.
// No answer holds one, and the browser has no Buffer: a type is all this check needs.

type Buffer = Uint8Array;
