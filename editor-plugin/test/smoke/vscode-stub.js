// A small stand-in for the `vscode` module, for running extension.js in Node
// without VS Code: the parts extension.js uses are real enough to observe
// (configuration, commands, messages, webview panels, events); everything
// else vscode-languageclient touches is a harmless do-nothing object.
'use strict';

const path = require('path');

// Any property, call or `new` gives another do-nothing object; it is not a
// promise and iterates as empty.
function inert() {
  const cache = new Map();
  const target = function () {};
  return new Proxy(target, {
    get(_, key) {
      if (key === 'then') return undefined;
      if (key === Symbol.iterator) return function* () {};
      if (key === Symbol.toPrimitive) return () => '';
      if (key === 'dispose') return () => {};
      if (!cache.has(key)) cache.set(key, inert());
      return cache.get(key);
    },
    apply: () => inert(),
    construct: () => inert(),
  });
}

const disposable = () => ({ dispose() {} });

class EventEmitter {
  constructor() {
    this.listeners = new Set();
    this.event = (listener, thisArg) => {
      const bound = thisArg ? listener.bind(thisArg) : listener;
      this.listeners.add(bound);
      return { dispose: () => this.listeners.delete(bound) };
    };
  }
  fire(value) {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose() {
    this.listeners.clear();
  }
}

class Disposable {
  constructor(fn) {
    this.fn = fn;
  }
  static from(...items) {
    return new Disposable(() => items.forEach((i) => i && i.dispose && i.dispose()));
  }
  dispose() {
    if (this.fn) this.fn();
  }
}

class Uri {
  constructor(scheme, fsPath) {
    this.scheme = scheme;
    this.fsPath = fsPath;
    this.path = fsPath;
  }
  static file(p) {
    return new Uri('file', p);
  }
  static parse(text) {
    const m = /^([a-z]+):\/\/(.*)$/.exec(text);
    return m ? new Uri(m[1], m[2]) : new Uri('file', text);
  }
  static joinPath(base, ...parts) {
    return new Uri(base.scheme, path.join(base.fsPath, ...parts));
  }
  toString() {
    return `${this.scheme}://${this.fsPath}`;
  }
  with() {
    return this;
  }
}

// What the test sets and reads.
const state = {
  settings: {},
  folders: undefined,
  commands: new Map(),
  executed: [],
  messages: [],
  panels: [],
  saved: new EventEmitter(),
  configChanged: new EventEmitter(),
  output: [],
};

function configuration(section) {
  const key = (k) => (section ? `${section}.${k}` : k);
  return {
    get: (k, def) => (key(k) in state.settings ? state.settings[key(k)] : def),
    has: (k) => key(k) in state.settings,
    inspect: () => undefined,
    update: async () => {},
  };
}

function message(level) {
  return async (text, ...items) => {
    state.messages.push({ level, text, items: items.filter((i) => typeof i === 'string') });
    return undefined;
  };
}

function createWebviewPanel(viewType, title, showOptions, options) {
  const received = new EventEmitter();
  const disposed = new EventEmitter();
  const panel = {
    viewType,
    title,
    showOptions,
    options,
    posted: [],
    revealed: 0,
    webview: {
      html: '',
      cspSource: 'vscode-webview://stub',
      asWebviewUri: (uri) => `vscode-webview://stub${uri.fsPath}`,
      postMessage: async (m) => {
        if (panel.isDisposed) throw new Error('Webview is disposed');
        panel.posted.push(m);
        return true;
      },
      onDidReceiveMessage: received.event,
    },
    reveal() {
      panel.revealed += 1;
    },
    onDidDispose: disposed.event,
    dispose() {
      panel.isDisposed = true;
      disposed.fire();
    },
    // The page's side: what its script would send.
    fromPage: (m) => received.fire(m),
  };
  state.panels.push(panel);
  return panel;
}

const outputChannel = (name) => ({
  name,
  append: (t) => state.output.push(t),
  appendLine: (t) => state.output.push(`${t}\n`),
  replace() {},
  clear() {},
  show() {},
  hide() {},
  dispose() {},
});

const stub = {
  state,
  version: '1.85.0',
  EventEmitter,
  Disposable,
  Uri,
  ViewColumn: { Active: -1, Beside: -2, One: 1, Two: 2 },
  workspace: new Proxy(
    {
      getConfiguration: configuration,
      get workspaceFolders() {
        return state.folders;
      },
      textDocuments: [],
      createFileSystemWatcher: () => ({
        onDidCreate: disposable,
        onDidChange: disposable,
        onDidDelete: disposable,
        dispose() {},
      }),
      onDidSaveTextDocument: state.saved.event,
      onDidChangeConfiguration: state.configChanged.event,
    },
    { get: (t, k) => (k in t ? t[k] : typeof k === 'string' && k.startsWith('on') ? disposable : inert()[k]) },
  ),
  window: new Proxy(
    {
      activeTextEditor: undefined,
      showErrorMessage: message('error'),
      showWarningMessage: message('warning'),
      showInformationMessage: message('info'),
      createOutputChannel: outputChannel,
      createWebviewPanel,
      tabGroups: { all: [], onDidChangeTabs: disposable },
    },
    { get: (t, k) => (k in t ? t[k] : typeof k === 'string' && k.startsWith('on') ? disposable : inert()[k]) },
  ),
  commands: {
    registerCommand(id, handler) {
      if (state.commands.has(id)) throw new Error(`command ${id} already exists`);
      state.commands.set(id, handler);
      return { dispose: () => state.commands.delete(id) };
    },
    executeCommand: async (id, ...args) => {
      state.executed.push([id, ...args]);
      return state.commands.has(id) ? state.commands.get(id)(...args) : undefined;
    },
  },
  languages: new Proxy(
    { match: () => 10, createDiagnosticCollection: () => inert() },
    { get: (t, k) => (k in t ? t[k] : () => disposable()) },
  ),
};

module.exports = new Proxy(stub, { get: (t, k) => (k in t ? t[k] : inert()[k]) });
