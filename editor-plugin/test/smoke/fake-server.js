#!/usr/bin/env node
// A stand-in for `dialect lsp` in the extension's smoke test: speaks just
// enough LSP over stdio (initialize, dialect.graph, shutdown, exit) and
// writes the arguments it was started with to $FAKE_SERVER_ARGS.
'use strict';
const fs = require('fs');

if (process.env.FAKE_SERVER_ARGS) {
  fs.writeFileSync(process.env.FAKE_SERVER_ARGS, JSON.stringify(process.argv.slice(2)));
}

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

function handle(message) {
  const { id, method, params } = message;
  if (id === undefined) {
    if (method === 'exit') process.exit(0);
    return; // other notifications
  }
  switch (method) {
    case 'initialize':
      return send({
        id,
        result: {
          capabilities: { textDocumentSync: 1, executeCommandProvider: { commands: ['dialect.graph'] } },
          serverInfo: { name: 'fake-dialect' },
        },
      });
    case 'workspace/executeCommand': {
      const [uri] = params.arguments || [];
      if (params.command !== 'dialect.graph' || typeof uri !== 'string') {
        return send({ id, error: { code: -32602, message: `bad request: ${JSON.stringify(params)}` } });
      }
      if (uri.includes('broken')) {
        return send({ id, error: { code: -32603, message: 'broken.flow:3:5: unknown block `menuu`' } });
      }
      if (uri.includes('svg')) {
        return send({ id, result: { format: 'svg', text: '<svg xmlns="http://www.w3.org/2000/svg"><text>x</text></svg>' } });
      }
      return send({ id, result: { format: 'mermaid', text: `flowchart TD\n  %% ${uri}\n  a --> b\n` } });
    }
    case 'shutdown':
      return send({ id, result: null });
    default:
      return send({ id, error: { code: -32601, message: `unhandled ${method}` } });
  }
}

let buffer = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = Number(/Content-Length: (\d+)/i.exec(buffer.slice(0, end).toString())[1]);
    if (buffer.length < end + 4 + length) return;
    const body = buffer.slice(end + 4, end + 4 + length).toString('utf8');
    buffer = buffer.slice(end + 4 + length);
    handle(JSON.parse(body));
  }
});
