#!/usr/bin/env node
// The graph panel's page script (media/graph.js) in jsdom, with the Mermaid
// browser bundle that the extension ships loaded the way the page loads it
// (a classic script): the real `dialect graph` Mermaid output of scheme 2
// (from the repository README) is drawn, SVG from the server is shown without
// its scripts, handlers and outside links, and errors are shown.
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const { JSDOM, VirtualConsole } = require('jsdom');

const root = path.join(__dirname, '..', '..');
const mermaidBundle = require.resolve('mermaid/dist/mermaid.min.js');
const readme = fs.readFileSync(path.join(root, '..', 'README.md'), 'utf8');
const scheme2 = /```mermaid\n([\s\S]*?)```/.exec(readme);
assert.ok(scheme2, 'the README has the Mermaid picture of scheme 2');

const virtualConsole = new VirtualConsole();
const pageErrors = [];
virtualConsole.on('jsdomError', (e) => pageErrors.push(e.message));
const dom = new JSDOM(
  '<!DOCTYPE html><body data-vscode-theme-kind="vscode-dark"><div id="status"></div><div id="graph"></div></body>',
  { runScripts: 'outside-only', pretendToBeVisual: true, virtualConsole },
);
const { window } = dom;
const sent = [];
window.acquireVsCodeApi = () => ({ postMessage: (m) => sent.push(m) });
// jsdom has no layout: boxes from the shapes' own attributes, texts 8 px a
// character, groups the union of their children (translations applied).
function box(el) {
  const num = (name) => Number(el.getAttribute(name)) || 0;
  const pairs = (text) => {
    const n = (text.match(/-?\d*\.?\d+(?:e-?\d+)?/gi) || []).map(Number);
    const xs = n.filter((_, i) => i % 2 === 0);
    const ys = n.filter((_, i) => i % 2 === 1);
    return xs.length ? { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) } : null;
  };
  switch (el.localName) {
    case 'rect':
      return { x0: num('x'), y0: num('y'), x1: num('x') + num('width'), y1: num('y') + num('height') };
    case 'circle':
      return { x0: num('cx') - num('r'), y0: num('cy') - num('r'), x1: num('cx') + num('r'), y1: num('cy') + num('r') };
    case 'polygon':
      return pairs(el.getAttribute('points') || '');
    case 'path':
      return pairs((el.getAttribute('d') || '').replace(/[aA][^a-zA-Z]*/g, ''));
    case 'text':
    case 'tspan':
    case 'foreignObject':
      return el.textContent ? { x0: 0, y0: 0, x1: 8 * el.textContent.length, y1: 18 } : null;
    default: {
      let out = null;
      for (const child of el.children) {
        const b = box(child);
        if (!b) continue;
        const t = /translate\(\s*(-?[\d.]+)[ ,]+(-?[\d.]+)/.exec(child.getAttribute('transform') || '');
        const [dx, dy] = t ? [Number(t[1]), Number(t[2])] : [0, 0];
        const m = { x0: b.x0 + dx, y0: b.y0 + dy, x1: b.x1 + dx, y1: b.y1 + dy };
        out = out ? { x0: Math.min(out.x0, m.x0), y0: Math.min(out.y0, m.y0), x1: Math.max(out.x1, m.x1), y1: Math.max(out.y1, m.y1) } : m;
      }
      return out;
    }
  }
}
window.SVGElement.prototype.getBBox = function () {
  const b = box(this) || { x0: 0, y0: 0, x1: 0, y1: 0 };
  return { x: b.x0, y: b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0 };
};
window.SVGElement.prototype.getComputedTextLength = function () {
  return 8 * this.textContent.length;
};
// HTML labels are measured by their element's box.
window.HTMLElement.prototype.getBoundingClientRect = function () {
  const width = 8 * this.textContent.length;
  return { x: 0, y: 0, top: 0, left: 0, right: width, bottom: 18, width, height: 18 };
};
const context = dom.getInternalVMContext();
for (const file of [mermaidBundle, path.join(root, 'media', 'graph.js')]) {
  new vm.Script(fs.readFileSync(file, 'utf8'), { filename: file }).runInContext(context);
}

const status = window.document.getElementById('status');
const graph = window.document.getElementById('graph');
const post = (data) => window.dispatchEvent(new window.MessageEvent('message', { data }));
async function until(what, test) {
  for (let i = 0; i < 400; i += 1) {
    if (test()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}; status: ${status.textContent}`);
}

async function main() {
  assert.strictEqual(JSON.stringify(sent), '[{"kind":"ready"}]', 'the page says it is ready');
  assert.strictEqual(typeof window.mermaid, 'object', 'the bundle defines window.mermaid');
  console.log('ok: the page loads the Mermaid bundle and says it is ready');

  post({ kind: 'mermaid', text: scheme2[1] });
  await until('the Mermaid drawing', () => graph.querySelector('svg'));
  const svg = graph.querySelector('svg');
  assert.ok(svg.querySelectorAll('.node').length >= 20, 'every block of scheme 2 is a node');
  assert.ok(svg.textContent.includes('main_menu: menu'), 'the labels are drawn');
  assert.ok(svg.textContent.includes('play "prompts/main_menu.wav"'), 'entities are decoded');
  assert.ok(svg.textContent.includes('timeout, full → goto main_menu'), 'edge labels are drawn');
  assert.strictEqual(svg.querySelectorAll('script').length, 0);
  assert.strictEqual(status.hidden, true, 'no status line over a picture');
  console.log(`ok: scheme 2's Mermaid picture is drawn (${svg.querySelectorAll('.node').length} nodes)`);

  post({
    kind: 'svg',
    text:
      '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n' +
      '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="80pt" height="40pt" onload="alert(1)">' +
      '<script>alert(2)</script><foreignObject><div>x</div></foreignObject>' +
      '<g id="node1" class="node"><title>answer</title><a xlink:href="javascript:alert(3)" href="https://example.com"><text onclick="alert(4)">answer</text></a>' +
      '<a xlink:href="#node1"><text>here</text></a></g></svg>',
  });
  await until('the SVG', () => graph.querySelector('svg#node1, svg g#node1'));
  const shown = graph.innerHTML;
  for (const bad of ['script', 'alert', 'foreignObject', 'onload', 'onclick', 'javascript:', 'https://example.com']) {
    assert.ok(!shown.includes(bad), `the shown SVG has no ${bad}: ${shown}`);
  }
  assert.ok(shown.includes('#node1'), 'links inside the picture stay');
  assert.ok(shown.includes('>answer<'), 'the text stays');
  console.log('ok: SVG is shown without scripts, handlers, foreign content or outside links');

  post({ kind: 'error', message: 'scheme2.flow:20:9: unknown block `menuu`' });
  await until('the error', () => status.textContent.includes('menuu'));
  assert.strictEqual(status.className, 'error');
  assert.ok(graph.classList.contains('stale'), 'the last picture is kept, marked stale');
  post({ kind: 'mermaid', text: 'flowchart TD\n  a -->' });
  await until('the parse error', () => status.textContent.startsWith('Could not draw the graph'));
  console.log('ok: server errors and Mermaid errors are shown over the stale picture');

  assert.deepStrictEqual(pageErrors, [], 'no uncaught errors in the page');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
