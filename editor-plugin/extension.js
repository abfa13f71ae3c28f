// The Dialect extension: starts the language server (`dialect lsp`) for
// `.flow` files and shows a flow's graph, drawn by the server, beside the
// editor.
'use strict';

const path = require('path');
const os = require('os');
const crypto = require('crypto');
const vscode = require('vscode');
const { LanguageClient, ExecuteCommandRequest } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;
/** @type {GraphPanel | undefined} */
let graph;
/** @type {vscode.FileSystemWatcher | undefined} */
let watcher;

function activate(context) {
  // The server hears of .flow files changed outside the editor (imports).
  watcher = vscode.workspace.createFileSystemWatcher('**/*.flow');
  context.subscriptions.push(
    watcher,
    vscode.commands.registerCommand('dialect.showGraph', () => showGraph(context)),
    vscode.commands.registerCommand('dialect.restartServer', () => restart()),
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (graph && doc.uri.toString() === graph.uri.toString()) graph.refresh();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['dialect.path', 'dialect.lsp', 'dialect.env'].some((k) => e.affectsConfiguration(k))) restart();
    }),
  );
  return start();
}

function deactivate() {
  return stop();
}

// ---- the language server --------------------------------------------------------

/** The server command: `dialect.path`, a relative path taken from the first workspace folder. */
function serverCommand() {
  const config = vscode.workspace.getConfiguration('dialect');
  let command = config.get('path') || 'dialect';
  if (command === '~' || command.startsWith('~/')) command = path.join(os.homedir(), command.slice(1));
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  if (!path.isAbsolute(command) && /[\\/]/.test(command) && folder) {
    command = path.join(folder.uri.fsPath, command);
  }
  const extra = config.get('lsp.extraArgs') || [];
  return { command, args: ['lsp', ...extra.map(String)], cwd: folder ? folder.uri.fsPath : undefined };
}

async function start() {
  const { command, args, cwd } = serverCommand();
  // No `transport` on purpose: it defaults to stdio, and `TransportKind.stdio`
  // would make the client append `--stdio` to the arguments.
  const serverOptions = { command, args, options: { cwd } };
  const clientOptions = {
    documentSelector: [
      { language: 'dialect', scheme: 'file' },
      { language: 'dialect', scheme: 'untitled' },
    ],
    synchronize: { fileEvents: watcher },
    // The environment for `env.NAME` bindings (the server's `--env`).
    initializationOptions: { env: vscode.workspace.getConfiguration('dialect').get('env') || null },
  };
  try {
    // The id `dialect` makes the client follow the `dialect.trace.server` setting.
    client = new LanguageClient('dialect', 'Dialect Language Server', serverOptions, clientOptions);
    await client.start();
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    client = undefined;
    // Not awaited: the message stays until dismissed, and activation must not wait for it.
    vscode.window
      .showErrorMessage(
        `Dialect: could not start the language server \`${[command, ...args].join(' ')}\` (${message}). ` +
          'Set `dialect.path` to the dialect binary, e.g. target/release/dialect after `cargo build --release`.',
        'Open Settings',
      )
      .then((choice) => {
        if (choice === 'Open Settings') {
          vscode.commands.executeCommand('workbench.action.openSettings', 'dialect.path');
        }
      });
  }
}

async function stop() {
  const running = client;
  client = undefined;
  try {
    if (running) await running.stop();
  } catch {
    // The server was not running (it crashed, or never started).
  }
}

// Restarts run one after the other, however quickly the settings change.
let restarting = Promise.resolve();
function restart() {
  restarting = restarting.then(stop).then(start);
  return restarting;
}

// ---- the graph preview ----------------------------------------------------------

async function showGraph(context) {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'dialect') {
    vscode.window.showWarningMessage('Dialect: open a .flow file to show its graph.');
    return;
  }
  if (!graph) {
    graph = new GraphPanel(context, () => (graph = undefined));
  }
  graph.show(editor.document.uri);
}

class GraphPanel {
  constructor(context, onDispose) {
    this.media = vscode.Uri.joinPath(context.extensionUri, 'media');
    this.panel = vscode.window.createWebviewPanel(
      'dialect.graph',
      'Flow Graph',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [this.media], retainContextWhenHidden: true },
    );
    this.uri = undefined;
    this.request = 0;
    this.last = undefined;
    // The page asks for the last picture when its script has loaded: a
    // message posted before that would be lost.
    this.panel.webview.onDidReceiveMessage((message) => {
      if (message && message.kind === 'ready' && this.last) this.panel.webview.postMessage(this.last);
    });
    this.panel.webview.html = this.html();
    this.panel.onDidDispose(() => {
      this.disposed = true;
      onDispose();
    });
  }

  show(uri) {
    this.uri = uri;
    this.panel.title = `Graph: ${path.basename(uri.path)}`;
    this.panel.reveal(vscode.ViewColumn.Beside, true);
    this.refresh();
  }

  /** Asks the server for the picture of the current document and shows it (or the error). */
  async refresh() {
    const request = ++this.request;
    const post = (message) => {
      // A newer request has been made meanwhile: drop this answer.
      if (this.disposed || request !== this.request) return;
      this.last = message;
      this.panel.webview.postMessage(message);
    };
    if (!client) {
      post({ kind: 'error', message: 'The Dialect language server is not running: see the `dialect.path` setting.' });
      return;
    }
    post({ kind: 'loading' });
    try {
      const result = await client.sendRequest(ExecuteCommandRequest.type, {
        command: 'dialect.graph',
        arguments: [this.uri.toString()],
      });
      if (!result || (result.format !== 'svg' && result.format !== 'mermaid') || typeof result.text !== 'string') {
        post({ kind: 'error', message: 'The language server returned no graph for this file.' });
      } else {
        post({ kind: result.format, text: result.text });
      }
    } catch (err) {
      post({ kind: 'error', message: err && err.message ? err.message : String(err) });
    }
  }

  html() {
    const webview = this.panel.webview;
    const nonce = crypto.randomBytes(16).toString('base64');
    const script = (name) => webview.asWebviewUri(vscode.Uri.joinPath(this.media, name));
    // Scripts: only the two files below, by nonce. Styles: Mermaid writes a
    // <style> into each SVG it draws, so inline styles are allowed.
    const csp = [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src ${webview.cspSource} 'unsafe-inline'`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${script('graph.css')}">
<title>Flow Graph</title>
</head>
<body>
<div id="status">Drawing…</div>
<div id="graph"></div>
<script nonce="${nonce}" src="${script('vendor/mermaid.min.js')}"></script>
<script nonce="${nonce}" src="${script('graph.js')}"></script>
</body>
</html>`;
  }
}

module.exports = { activate, deactivate };
