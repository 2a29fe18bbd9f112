// A stand-in for your application: logs each webhook hookq delivers and answers 200.
// Run it with `node examples/receiver.mjs [port]` (default 3000).
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 3000);

createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const h = request.headers;
    console.log(
      `${request.method} ${request.url} group=${h['hookq-group-id']} seq=${h['hookq-sequence']} ` +
        `attempt=${h['hookq-attempt']} id=${h['hookq-message-id']} body=${Buffer.concat(chunks).toString()}`,
    );
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
  });
}).listen(port, '127.0.0.1', () =>
  console.log(`example receiver listening on http://127.0.0.1:${port}/webhook`),
);
