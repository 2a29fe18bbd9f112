import {
  ConflictError,
  HookqError,
  NotFoundError,
  StorageUnavailableError,
  WebhookRefusedError,
} from '../../core/errors.js';
import type { Ordering } from '../../core/terms.js';
import type { StaleGroup } from '../store.js';
import type { OpenFileIds, Say } from './open-files.js';
import type { WriteName } from './writes.js';

/**
 * What the SQLite store and its writer thread tell each other. Everything crosses by
 * structured clone: plain data only, errors by code and message.
 */

/** What the writer thread is started with. */
export interface WriterData {
  location: string;
  /** The files the store opened, which the writer must find at `location`. */
  files: OpenFileIds;
  ordering: Record<string, Ordering>;
}

export interface WriteRequest {
  id: number;
  name: WriteName;
  arg: unknown;
}

/** From the store to its writer thread. */
export type ToWriter =
  | { type: 'writes'; writes: WriteRequest[] }
  /** Whether the store can take writes: its file in place and its latest commit through. */
  | { type: 'check'; id: number }
  | { type: 'close' };

export type Outcome = { id: number; value: unknown } | { id: number; error: WireError };

/** From the writer thread to the store. */
export type FromWriter =
  | { type: 'done'; outcomes: Outcome[] }
  | { type: 'stale'; problem: StaleGroup }
  | { type: 'say'; level: Parameters<Say>[0]; fields: Record<string, unknown>; message: string };

export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export function toWire(error: unknown): WireError {
  if (error instanceof HookqError)
    return { name: error.name, message: error.message, code: error.code };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** hookq's errors by code, rebuilt on this side as the classes callers test for. */
const REBUILD: Record<string, (message: string) => Error> = {
  storage_unavailable: (message) => new StorageUnavailableError(message),
  conflict: (message) => new ConflictError(message),
  not_found: (message) => new NotFoundError(message),
  webhook_refused: (message) => new WebhookRefusedError(message),
};

export function fromWire(wire: WireError): Error {
  const rebuild = wire.code === undefined ? undefined : REBUILD[wire.code];
  if (rebuild) return rebuild(wire.message);
  // Others keep their code (the HTTP status follows it) and their message.
  const error =
    wire.code === undefined ? new Error(wire.message) : new HookqError(wire.code, wire.message);
  error.name = wire.name;
  return error;
}

/**
 * Bytes to send to the other thread without a second copy: its own buffer, moved
 * (`transfer` collects it). A view into a larger buffer (Node's pooled small buffers)
 * is copied first, so that the rest of that buffer neither travels nor is detached.
 */
export function movable(bytes: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  const own =
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
      ? bytes
      : Uint8Array.prototype.slice.call(bytes);
  transfer.push(own.buffer as ArrayBuffer);
  return own;
}
