// The load of SPEC §10, generated in its own process so that it shares no thread with
// hookq, the target or the bare server it is compared with.
//
// Run with fork(): argv[2] is a JSON object
//   { urls, connections, warmupSeconds, seconds, groups, burst, bodyBytes, header }
// - `connections` keep-alive HTTP/1.1 connections, one request at a time on each (the
//   next is sent when the answer is in), spread round-robin over `urls` (connection i
//   sends to urls[i % urls.length]);
// - each connection sends `burst` consecutive requests for one group (the `header`, e.g.
//   X-Entity-Id, set to one of `groups` ids picked at random) before it moves on to another
//   group, as providers send an entity's events in bursts;
// - every request has its own JSON body of exactly `bodyBytes` bytes, unique across runs
//   (so content deduplication drops none);
// - `warmupSeconds` of load, then `seconds` measured: only answers that arrive in the
//   measured window count; latency is from writing a request to the end of its answer.
// It sends {type: 'measuring', at} when the measured window opens and {type: 'measured',
// at, ...figures} when it closes, then exits. Times are epoch milliseconds.
//
// It speaks HTTP/1.1 on plain sockets rather than through an HTTP client library: a client
// that builds each request anew (autocannon with setupRequest, undici) costs more CPU per
// request than the bare server it measures, and on a machine of two cores that CPU comes
// out of the servers' share, which would flatter every ratio. This one costs a fraction of
// the bare server's time per request, like wrk.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const options = JSON.parse(process.argv[2]);
const { urls, connections, warmupSeconds, seconds, groups, burst, bodyBytes, header } = options;
const TIMEOUT_MS = 10_000;
const RECONNECT_MS = 50;
const now = () => performance.timeOrigin + performance.now();

const run = randomBytes(6).toString('hex');
let sent = 0;
const pads = new Map();
/** A JSON body of exactly `bodyBytes` ASCII bytes, unique in this run and across runs. */
function body() {
  const head = `{"run":"${run}","n":${sent++},"pad":"`;
  const length = bodyBytes - head.length - 2;
  let pad = pads.get(length);
  if (pad === undefined) {
    pad = 'x'.repeat(length);
    pads.set(length, pad);
  }
  return `${head}${pad}"}`;
}

let measuring = false;
let windowStart = 0;
let accepted = 0;
let rejected = 0;
let errors = 0;
let latencies = new Float64Array(1 << 16);
const statuses = {};
const acceptedByUrl = Object.fromEntries(urls.map((url) => [url, 0]));

function record(connection, status, latency) {
  if (!measuring) return;
  statuses[status] = (statuses[status] ?? 0) + 1;
  if (status < 200 || status > 299) {
    rejected++;
    return;
  }
  acceptedByUrl[connection.url]++;
  if (accepted === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[accepted++] = latency;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

class Connection {
  constructor(url) {
    const parsed = new URL(url);
    this.url = url;
    this.host = parsed.hostname;
    this.port = Number(parsed.port || 80);
    this.head = `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nHost: ${parsed.host}\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n${header}: `;
    this.group = '';
    this.left = 0;
    this.sentAt = 0;
    this.inFlight = false;
    this.buffer = null;
    this.stopped = false;
    this.open();
  }

  open() {
    this.buffer = null;
    this.inFlight = false;
    const socket = connect(this.port, this.host);
    this.socket = socket;
    socket.setNoDelay(true);
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      this.send();
    });
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket || this.stopped) return;
      // Closed under a request, or refused: an error; back off a little before retrying.
      if (measuring && (this.inFlight || !connected)) errors++;
      this.reconnect(RECONNECT_MS);
    });
  }

  reconnect(delay) {
    this.inFlight = false;
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    if (this.stopped) return;
    if (delay === 0) this.open();
    else setTimeout(() => this.stopped || this.open(), delay);
  }

  /** No answer within the timeout: an error; a new connection. */
  timedOut() {
    if (measuring) errors++;
    this.reconnect(0);
  }

  send() {
    if (this.stopped) return;
    if (this.left === 0) {
      this.group = `g${Math.floor(Math.random() * groups)}`;
      this.left = burst;
    }
    this.left--;
    this.inFlight = true;
    this.sentAt = performance.now();
    this.socket.write(`${this.head}${this.group}\r\n\r\n${body()}`, 'latin1');
  }

  receive(chunk) {
    this.buffer = this.buffer === null ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.complete(this.buffer);
    if (end === -1) return;
    const latency = performance.now() - this.sentAt;
    const status = Number(this.buffer.latin1Slice(9, 12));
    const close = /\r\nconnection:[ \t]*close/i.test(this.buffer.latin1Slice(0, this.headEnd));
    this.buffer = null;
    this.inFlight = false;
    record(this, status, latency);
    // The server closes the connection after this answer: open another one at once.
    if (close) this.reconnect(0);
    else this.send();
  }

  /** Where the answer in `buffer` ends, or -1 while it is incomplete. */
  complete(buffer) {
    const headEnd = buffer.indexOf(CRLF2);
    if (headEnd === -1) return -1;
    this.headEnd = headEnd;
    const head = buffer.latin1Slice(0, headEnd);
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (length) {
      const end = headEnd + 4 + Number(length[1]);
      return buffer.length >= end ? end : -1;
    }
    if (!/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return headEnd + 4;
    // Chunked: sizes in hex, each chunk followed by CRLF, the last one empty.
    let at = headEnd + 4;
    for (;;) {
      const lineEnd = buffer.indexOf(CRLF, at);
      if (lineEnd === -1) return -1;
      const size = Number.parseInt(buffer.latin1Slice(at, lineEnd), 16);
      if (size === 0) {
        // Then the trailers, if any, and an empty line.
        const trailerEnd = buffer.indexOf(CRLF2, lineEnd);
        return trailerEnd === -1 ? -1 : trailerEnd + 4;
      }
      at = lineEnd + 2 + size + 2;
      if (buffer.length < at) return -1;
    }
  }

  stop() {
    this.stopped = true;
    this.socket?.destroy();
  }
}

const pool = Array.from({ length: connections }, (_, i) => new Connection(urls[i % urls.length]));

const timeouts = setInterval(() => {
  const late = performance.now() - TIMEOUT_MS;
  for (const connection of pool)
    if (connection.inFlight && connection.sentAt < late) connection.timedOut();
}, 250);

const percentile = (sorted, p) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

setTimeout(() => {
  measuring = true;
  windowStart = now();
  process.send({ type: 'measuring', at: windowStart });
}, warmupSeconds * 1000);

setTimeout(
  () => {
    measuring = false;
    const at = now();
    const sorted = latencies.subarray(0, accepted).sort();
    const windowSeconds = (at - windowStart) / 1000;
    process.send(
      {
        type: 'measured',
        at,
        seconds: windowSeconds,
        accepted,
        rejected,
        errors,
        statuses,
        acceptedByUrl,
        rps: accepted / windowSeconds,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.length === 0 ? 0 : sorted[sorted.length - 1],
      },
      () => {
        clearInterval(timeouts);
        for (const connection of pool) connection.stop();
        process.exit(0);
      },
    );
  },
  (warmupSeconds + seconds) * 1000,
);
process.on('disconnect', () => process.exit(0));
