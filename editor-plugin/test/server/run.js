// The extension's contract with the real language server: starts
// `$DIALECT_BIN lsp` the way extension.js does (stdio, no extra flag), speaks
// JSON-RPC to it with vscode-jsonrpc (the transport of vscode-languageclient),
// and checks what the extension relies on: the capabilities, diagnostics with
// codes as a file is edited, and the `dialect.graph` command's answer that the
// graph panel draws. Run by ci.sh after `cargo build` (.ci/run sets
// DIALECT_BIN); fails with a clear message when the binary is not given.
'use strict';

const assert = require('assert');
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const rpc = require('vscode-jsonrpc/node');

const bin = process.env.DIALECT_BIN;
if (!bin || !fs.existsSync(bin)) {
  console.error('test/server: set DIALECT_BIN to a built `dialect` binary (e.g. ../target/debug/dialect after `cargo build`)');
  process.exit(1);
}

const repo = path.resolve(__dirname, '..', '..', '..');
const file = path.join(repo, 'flows', 'scheme2.flow');
const uri = 'file://' + file;
const text = fs.readFileSync(file, 'utf8');

async function main() {
  const child = cp.spawn(path.resolve(bin), ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const connection = rpc.createMessageConnection(
    new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin),
  );
  const published = [];
  let wake = null;
  connection.onNotification('textDocument/publishDiagnostics', (params) => {
    published.push(params);
    if (wake) wake();
  });
  connection.listen();
  const next = () => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no diagnostics within 20 s')), 20000);
    const take = () => { clearTimeout(timer); wake = null; resolve(published.shift()); };
    if (published.length) take(); else wake = take;
  });

  const init = await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: 'file://' + path.join(repo, 'flows'),
    capabilities: {},
    initializationOptions: { stdlib: path.join(repo, 'stdlib') },
  });
  const caps = init.capabilities;
  assert.strictEqual(caps.textDocumentSync, 2, 'incremental text synchronisation');
  for (const c of ['hoverProvider', 'definitionProvider', 'referencesProvider', 'documentSymbolProvider', 'documentFormattingProvider']) {
    assert.ok(caps[c], `the server provides ${c}`);
  }
  assert.ok(caps.renameProvider && caps.completionProvider, 'rename and completion');
  assert.deepStrictEqual(caps.executeCommandProvider.commands, ['dialect.graph']);
  connection.sendNotification('initialized', {});

  connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'dialect', version: 1, text },
  });
  let d = await next();
  assert.strictEqual(d.uri, uri);
  assert.deepStrictEqual(d.diagnostics, [], 'scheme 2 is clean');

  const broken = text.replace('numbers [+48221000002]', 'numbers [+4822100000]\n  priority 500');
  connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 2 },
    contentChanges: [{ text: broken }],
  });
  d = await next();
  const codes = d.diagnostics.map((x) => x.code).sort();
  assert.ok(codes.length >= 1, 'the mistakes are reported');
  assert.ok(d.diagnostics.every((x) => /^[EW]\d{4}$/.test(x.code) && x.source === 'dialect'), JSON.stringify(d.diagnostics));
  console.log(`ok: diagnostics as the file changes (${codes.join(', ')})`);

  connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 3 },
    contentChanges: [{ text }],
  });
  d = await next();
  assert.deepStrictEqual(d.diagnostics, [], 'cleared when fixed');

  const graph = await connection.sendRequest('workspace/executeCommand', { command: 'dialect.graph', arguments: [uri] });
  assert.ok(graph.format === 'svg' || graph.format === 'mermaid', JSON.stringify(graph).slice(0, 200));
  assert.ok(graph.text.includes('main_menu: menu'), 'the picture names the menu');
  console.log(`ok: dialect.graph answers ${graph.format} (${graph.text.length} characters)`);

  await connection.sendRequest('shutdown');
  connection.sendNotification('exit');
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.strictEqual(code, 0, 'the server exits 0 after shutdown and exit');
  connection.dispose();
  console.log('ok: the real `dialect lsp` keeps the extension\'s contract');
}

main().catch((err) => { console.error(err); process.exit(1); });
