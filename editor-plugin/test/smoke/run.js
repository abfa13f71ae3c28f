#!/usr/bin/env node
// Smoke test of extension.js without VS Code: the real vscode-languageclient
// starts a fake `dialect lsp` (fake-server.js) through `dialect.path`, and the
// test checks the server's arguments, the `dialect.graph` request behind
// `dialect.showGraph` and what the graph panel is sent, the refresh on save,
// an error from the server, and the message naming `dialect.path` when the
// binary cannot be started. `vscode` is the stand-in in vscode-stub.js.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Module = require('module');

const stubPath = path.join(__dirname, 'vscode-stub.js');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? stubPath : resolve.call(this, request, ...rest);
};
const vscode = require('vscode');
const { state } = vscode;
const extension = require('../../extension.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dialect-smoke-'));
const argsFile = path.join(tmp, 'args.json');
// The fake server as one executable file, as `dialect.path` names a binary.
const server = path.join(tmp, 'dialect');
fs.writeFileSync(server, `#!/bin/sh\nexec "${process.execPath}" "${path.join(__dirname, 'fake-server.js')}" "$@"\n`);
fs.chmodSync(server, 0o755);
process.env.FAKE_SERVER_ARGS = argsFile;

const context = { subscriptions: [], extensionUri: vscode.Uri.file(path.join(__dirname, '..', '..')) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, test) {
  for (let i = 0; i < 200; i += 1) {
    if (test()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const editorFor = (file) => ({
  document: { languageId: 'dialect', uri: vscode.Uri.file(path.join(tmp, file)) },
});

async function main() {
  // 1. The server starts as `<dialect.path> lsp <extraArgs...>`, nothing more.
  state.settings = { 'dialect.path': server, 'dialect.lsp.extraArgs': ['--log', 'debug'] };
  await extension.activate(context);
  await until('the server to start', () => fs.existsSync(argsFile));
  assert.deepStrictEqual(JSON.parse(fs.readFileSync(argsFile, 'utf8')), ['lsp', '--log', 'debug']);
  assert.deepStrictEqual(state.messages, [], 'no error message when the server starts');
  console.log('ok: the server starts as `dialect lsp --log debug`');

  // 2. Show Flow Graph asks the server for `dialect.graph [uri]` and posts the
  //    Mermaid text to a panel beside the editor.
  vscode.window.activeTextEditor = editorFor('scheme2.flow');
  await vscode.commands.executeCommand('dialect.showGraph');
  const panel = state.panels[0];
  assert.ok(panel, 'a panel was opened');
  assert.strictEqual(panel.showOptions.viewColumn, vscode.ViewColumn.Beside);
  assert.strictEqual(panel.title, 'Graph: scheme2.flow');
  await until('the graph', () => panel.posted.some((m) => m.kind === 'mermaid'));
  const graph = panel.posted.find((m) => m.kind === 'mermaid');
  assert.match(graph.text, /^flowchart TD\n/);
  assert.ok(graph.text.includes(`file://${path.join(tmp, 'scheme2.flow')}`), 'the document URI was the argument');
  console.log('ok: dialect.showGraph -> workspace/executeCommand dialect.graph [uri] -> Mermaid in the panel');

  // The page: scripts only by nonce, from the extension's media folder; the
  // Mermaid bundle and graph.js are what it loads.
  const html = panel.webview.html;
  const nonce = /script-src 'nonce-([^']+)'/.exec(html);
  assert.ok(nonce, 'the CSP allows scripts by nonce only');
  assert.ok(!/script-src[^;]*unsafe/.test(html), 'no unsafe script sources');
  assert.match(html, /default-src 'none'/);
  const scripts = [...html.matchAll(/<script nonce="([^"]+)" src="([^"]+)"><\/script>/g)];
  assert.deepStrictEqual(scripts.map((s) => path.basename(s[2])), ['mermaid.min.js', 'graph.js']);
  assert.ok(scripts.every((s) => s[1] === nonce[1]), 'every script carries the nonce');
  assert.strictEqual((html.match(/<script/g) || []).length, 2, 'no inline script');
  console.log('ok: the panel CSP allows only the two bundled scripts, by nonce');

  // 3. The page's `ready` gets the last picture again (a message posted before
  //    its script ran is lost).
  const before = panel.posted.length;
  panel.fromPage({ kind: 'ready' });
  await until('the re-sent picture', () => panel.posted.length === before + 1);
  assert.deepStrictEqual(panel.posted[panel.posted.length - 1], graph);
  console.log('ok: the page gets the last picture when it is ready');

  // 4. Saving the document redraws; saving another one does not.
  const count = () => panel.posted.filter((m) => m.kind === 'mermaid').length;
  const drawn = count();
  state.saved.fire({ uri: vscode.Uri.file(path.join(tmp, 'other.flow')) });
  state.saved.fire({ uri: vscode.Uri.file(path.join(tmp, 'scheme2.flow')) });
  await until('the redraw', () => count() === drawn + 1);
  await sleep(100);
  assert.strictEqual(count(), drawn + 1, 'one redraw, for the shown document only');
  console.log('ok: saving the shown document redraws it');

  // 5. An SVG answer is passed on as SVG; an LSP error is shown in the panel.
  vscode.window.activeTextEditor = editorFor('svg.flow');
  await vscode.commands.executeCommand('dialect.showGraph');
  await until('the SVG', () => panel.posted.some((m) => m.kind === 'svg'));
  assert.strictEqual(state.panels.length, 1, 'the panel is reused');
  vscode.window.activeTextEditor = editorFor('broken.flow');
  await vscode.commands.executeCommand('dialect.showGraph');
  await until('the error', () => panel.posted.some((m) => m.kind === 'error'));
  assert.match(panel.posted.find((m) => m.kind === 'error').message, /unknown block `menuu`/);
  console.log('ok: SVG is passed on; a server error is shown in the panel');

  // 6. A closed panel is not written to; the next command opens a new one.
  panel.dispose();
  state.saved.fire({ uri: vscode.Uri.file(path.join(tmp, 'broken.flow')) });
  await vscode.commands.executeCommand('dialect.showGraph');
  assert.strictEqual(state.panels.length, 2);
  console.log('ok: closing the panel and showing the graph again opens a new panel');

  // 7. A binary that does not exist: an error message that names the setting.
  await extension.deactivate();
  context.subscriptions.forEach((d) => d.dispose());
  context.subscriptions.length = 0;
  state.settings = { 'dialect.path': path.join(tmp, 'no-such-dialect') };
  state.messages.length = 0;
  await extension.activate(context);
  const error = state.messages.find((m) => m.level === 'error' && m.text.startsWith('Dialect:'));
  assert.ok(error, `an error message: ${JSON.stringify(state.messages)}`);
  assert.match(error.text, /`dialect\.path`/);
  assert.match(error.text, /no-such-dialect lsp/);
  assert.deepStrictEqual(error.items, ['Open Settings']);
  console.log(`ok: a missing binary is reported: ${error.text}`);

  // 8. The graph command without a server says so in the panel.
  vscode.window.activeTextEditor = editorFor('scheme2.flow');
  await vscode.commands.executeCommand('dialect.showGraph');
  const last = state.panels[state.panels.length - 1];
  const lastMessage = () => last.posted[last.posted.length - 1];
  await until('the message', () => lastMessage() && /not running/.test(lastMessage().message || ''));
  assert.strictEqual(lastMessage().kind, 'error');
  assert.match(lastMessage().message, /dialect\.path/);
  console.log('ok: without a server the panel points at `dialect.path`');

  // 9. Fixing `dialect.path` restarts the server, and the graph comes back.
  fs.rmSync(argsFile);
  state.settings = { 'dialect.path': server };
  state.configChanged.fire({ affectsConfiguration: (section) => section === 'dialect.path' });
  await until('the restarted server', () => fs.existsSync(argsFile));
  assert.deepStrictEqual(JSON.parse(fs.readFileSync(argsFile, 'utf8')), ['lsp']);
  await sleep(200);
  await vscode.commands.executeCommand('dialect.showGraph');
  await until('the graph', () => lastMessage().kind === 'mermaid');
  console.log('ok: changing `dialect.path` restarts the server');

  await extension.deactivate();
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    console.error(state.output.join(''));
    process.exit(1);
  },
);
