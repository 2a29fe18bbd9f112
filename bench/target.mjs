// The application hookq delivers to in the benchmark, in its own process: a bare node:http
// server that answers 200 at once and counts what arrives. It also checks per-group order
// (Hookq-Route, Hookq-Group-Id, Hookq-Sequence), so a run is a small check of SPEC §2 too.
//
// Run with fork(): argv[2] is the port (0 for any). It sends {type: 'listening', port, at}
// once it listens, and answers {type: 'stats', id} and {type: 'wait', id, n} (the latter
// once n deliveries arrived) with the figures below. Times are epoch milliseconds with
// sub-millisecond precision, comparable between processes.
import { createServer } from 'node:http';

const now = () => performance.timeOrigin + performance.now();

let count = 0;
let firstAt = 0;
let lastAt = 0;
/** A message seen again (a redelivery, at-least-once): not an error. */
let repeats = 0;
/** A sequence lower than one already delivered in its group: a FIFO violation. */
let violations = 0;
const lastSequence = new Map();
const waiters = [];

const stats = () => ({ count, firstAt, lastAt, repeats, violations });

const server = createServer((request, response) => {
  const group = `${request.headers['hookq-route']}\n${request.headers['hookq-group-id']}`;
  const sequence = Number(request.headers['hookq-sequence']);
  request.resume();
  request.on('end', () => {
    count++;
    lastAt = now();
    if (count === 1) firstAt = lastAt;
    if (Number.isFinite(sequence)) {
      const last = lastSequence.get(group);
      if (last !== undefined && sequence < last) violations++;
      else if (last === sequence) repeats++;
      else lastSequence.set(group, sequence);
    }
    response.writeHead(200, { 'content-length': '0' });
    response.end();
    while (waiters.length > 0 && count >= waiters[0].n) {
      const { id } = waiters.shift();
      process.send({ type: 'wait', id, ...stats() });
    }
  });
});
server.keepAliveTimeout = 65_000;

process.on('message', (message) => {
  if (message.type === 'stats') process.send({ type: 'stats', id: message.id, ...stats() });
  if (message.type === 'wait') {
    if (count >= message.n) process.send({ type: 'wait', id: message.id, ...stats() });
    else {
      waiters.push({ id: message.id, n: message.n });
      waiters.sort((a, b) => a.n - b.n);
    }
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () =>
  process.send({ type: 'listening', port: server.address().port, at: now() }),
);
