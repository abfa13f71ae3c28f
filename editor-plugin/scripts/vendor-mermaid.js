#!/usr/bin/env node
// Copies Mermaid's browser bundle into media/vendor/, where the graph panel
// loads it from (no CDN, no network). Run before packaging (`vscode:prepublish`)
// and before running the extension from source.
'use strict';
const fs = require('fs');
const path = require('path');

const from = require.resolve('mermaid/dist/mermaid.min.js');
const to = path.join(__dirname, '..', 'media', 'vendor', 'mermaid.min.js');
fs.mkdirSync(path.dirname(to), { recursive: true });
fs.copyFileSync(from, to);
const { version } = require('mermaid/package.json');
console.log(`mermaid ${version}: ${path.relative(process.cwd(), from)} -> ${path.relative(process.cwd(), to)}`);
