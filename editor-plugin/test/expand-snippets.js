#!/usr/bin/env node
// Expands every snippet of snippets/dialect.json with its placeholders at
// their defaults (the first choice of a `${1|a,b|}`, nothing for a bare tab
// stop) and writes it, wrapped in whatever makes it a complete flow file, to
// test/snippets/NAME.flow, so that `dialect check` can verify that every
// snippet inserts valid Dialect.
//
//   node test/expand-snippets.js           regenerate test/snippets/
//   node test/expand-snippets.js --check   fail if test/snippets/ is stale
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const snippets = JSON.parse(fs.readFileSync(path.join(root, 'snippets', 'dialect.json'), 'utf8'));
const outDir = path.join(__dirname, 'snippets');

// Where each snippet stands. `file`: the snippet is a whole file (a top-level
// item); `ivr`: the snippet is an IVR block, placed after `answer` in a
// campaign. `before`: top-level lines the snippet needs (imports and the
// declarations its defaults name).
const CONTEXTS = {
  campaign: { where: 'file' },
  menu: { where: 'ivr' },
  'queue block': { where: 'ivr', before: ['queue sales { max_wait 10m }'] },
  hours: { where: 'ivr', before: ['import "std/hours.flow"'] },
  dial: { where: 'ivr' },
  condition: { where: 'ivr' },
  switch: { where: 'ivr' },
  voicemail: { where: 'ivr' },
  callback: { where: 'ivr', before: ['queue sales { max_wait 10m }'] },
  route_caller: { where: 'ivr' },
  use: { where: 'ivr', before: ['import "std/voicemail.flow"'] },
  import: { where: 'file' },
  const: { where: 'file' },
  flow: { where: 'file' },
  schedule: { where: 'file' },
  'queue declaration': { where: 'file', before: ['agent alice { uri "sip:alice@127.0.0.1" }'] },
  agent: { where: 'file', before: ['skill sales'] },
  skill: { where: 'file' },
  team: {
    where: 'file',
    before: ['agent alice { uri "sip:alice@127.0.0.1" }', 'agent bob { uri "sip:bob@127.0.0.1" }'],
  },
};

// ---- TextMate snippet syntax -------------------------------------------------

// Parses a snippet body into a list of text and tab stop nodes.
function parse(text) {
  let i = 0;
  function nodes(stopAt) {
    const out = [];
    let buf = '';
    const flush = () => {
      if (buf) out.push({ text: buf });
      buf = '';
    };
    while (i < text.length) {
      const c = text[i];
      if (c === '\\' && i + 1 < text.length && '$}\\,|'.includes(text[i + 1])) {
        buf += text[i + 1];
        i += 2;
      } else if (stopAt && c === stopAt) {
        break;
      } else if (c === '$') {
        const simple = /^\$(\d+)/.exec(text.slice(i));
        const braced = /^\$\{(\d+)([:|}])/.exec(text.slice(i));
        if (simple) {
          flush();
          out.push({ stop: Number(simple[1]) });
          i += simple[0].length;
        } else if (braced) {
          flush();
          const stop = Number(braced[1]);
          i += braced[0].length;
          if (braced[2] === '}') {
            out.push({ stop });
          } else if (braced[2] === ':') {
            const def = nodes('}');
            i += 1; // the closing brace
            out.push({ stop, def });
          } else {
            const end = text.indexOf('|}', i);
            if (end < 0) throw new Error(`unclosed choice in ${JSON.stringify(text)}`);
            const choices = text.slice(i, end).split(',');
            i = end + 2;
            out.push({ stop, def: [{ text: choices[0] }] });
          }
        } else {
          throw new Error(`snippet variables are not used here: ${JSON.stringify(text.slice(i, i + 20))}`);
        }
      } else {
        buf += c;
        i += 1;
      }
    }
    flush();
    return out;
  }
  return nodes(null);
}

// The text of a snippet with every placeholder at its default; a bare `$N`
// mirrors the default of `${N:...}` elsewhere in the snippet.
function expand(body) {
  const tree = parse(body);
  const defaults = new Map();
  const collect = (list) => {
    for (const n of list) {
      if (n.def) {
        collect(n.def);
        if (!defaults.has(n.stop)) defaults.set(n.stop, n.def);
      }
    }
  };
  collect(tree);
  const render = (list) =>
    list
      .map((n) => {
        if ('text' in n) return n.text;
        const def = n.def || defaults.get(n.stop);
        return def ? render(def) : '';
      })
      .join('');
  return render(tree);
}

// ---- samples -------------------------------------------------------------------

const slug = (name) => name.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();

function sample(name, snippet, index) {
  const context = CONTEXTS[name];
  if (!context) throw new Error(`no context for snippet "${name}": add it to CONTEXTS in ${__filename}`);
  const body = Array.isArray(snippet.body) ? snippet.body.join('\n') : snippet.body;
  // Tabs are the editor's indentation; two spaces here.
  const lines = expand(body)
    .split('\n')
    .map((line) => line.replace(/^\t+/, (tabs) => '  '.repeat(tabs.length)).replace(/\s+$/, ''));
  const out = [
    `// The snippet "${name}" (prefix \`${snippet.prefix}\`) with its placeholders at their defaults.`,
    '// Generated by test/expand-snippets.js from snippets/dialect.json: do not edit.',
    '',
  ];
  if (context.before) out.push(...context.before, '');
  if (context.where === 'file') {
    out.push(...lines);
  } else {
    const id = slug(name).replace(/-/g, '_');
    out.push(
      `campaign snippet_${id} {`,
      `  name "Snippet sample: ${name}"`,
      `  id "SNIPPET-${id.toUpperCase()}"`,
      `  numbers [+482210099${String(index).padStart(2, '0')}]`,
      '',
      '  ivr {',
      '    answer',
      ...lines.map((line) => (line ? `    ${line}` : '')),
      '  }',
      '}',
    );
  }
  return out.join('\n') + '\n';
}

function main() {
  const check = process.argv.includes('--check');
  const wanted = new Map();
  Object.entries(snippets).forEach(([name, snippet], index) => {
    wanted.set(`${slug(name)}.flow`, sample(name, snippet, index));
  });
  for (const name of Object.keys(CONTEXTS)) {
    if (!(name in snippets)) throw new Error(`CONTEXTS names "${name}", which is no snippet`);
  }
  const present = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith('.flow')) : [];
  if (check) {
    const stale = [];
    for (const [file, text] of wanted) {
      const p = path.join(outDir, file);
      if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) stale.push(file);
    }
    for (const file of present) if (!wanted.has(file)) stale.push(file);
    if (stale.length) {
      console.error(`test/snippets is stale (${stale.join(', ')}): run node test/expand-snippets.js`);
      process.exit(1);
    }
    console.log(`test/snippets: ${wanted.size} samples up to date`);
    return;
  }
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of present) if (!wanted.has(file)) fs.unlinkSync(path.join(outDir, file));
  for (const [file, text] of wanted) fs.writeFileSync(path.join(outDir, file), text);
  console.log(`wrote ${wanted.size} samples to ${path.relative(process.cwd(), outDir) || '.'}`);
}

if (require.main === module) main();
module.exports = { expand };
