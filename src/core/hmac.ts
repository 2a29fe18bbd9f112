import { createHmac } from 'node:crypto';

/** HMAC-SHA256 over the parts in order, fed one by one so the body is never copied. */
export function hmacSha256(key: string | Uint8Array, parts: Array<string | Uint8Array>): Buffer {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

/**
 * Decodes a received signature that follows `prefix`, or null when the prefix is absent
 * or the rest is not valid `encoding`. Node's decoders skip characters they do not
 * understand, so `<good hex>zz` would decode to the good signature; re-encoding and
 * comparing rejects such values instead of accepting them.
 */
export function strictDecode(
  value: string,
  encoding: 'hex' | 'base64',
  prefix = '',
): Buffer | null {
  if (!value.startsWith(prefix)) return null;
  const text = value.slice(prefix.length);
  const bytes = Buffer.from(text, encoding);
  if (bytes.length === 0) return null;
  if (encoding === 'hex') return bytes.toString('hex') === text.toLowerCase() ? bytes : null;
  // Some senders drop the base64 padding; the bytes are the same either way.
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '') ? bytes : null;
}
