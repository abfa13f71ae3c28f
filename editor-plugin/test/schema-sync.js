#!/usr/bin/env node
// The grammar's word lists against compiler/src/schema.rs, the language's one
// table of blocks, declarations, sections, parameter types and expression
// variables: a block added there and not here fails this test.
'use strict';

const fs = require('fs');
const path = require('path');

const schemaPath = path.join(__dirname, '..', '..', 'compiler', 'src', 'schema.rs');
const grammar = require('../syntaxes/dialect.tmLanguage.json');
const schema = fs.readFileSync(schemaPath, 'utf8');

// The text of `pub const NAME ... = ...;` up to the `];` that closes it.
function constant(name) {
  const start = schema.indexOf(`pub const ${name}:`);
  if (start < 0) throw new Error(`schema.rs has no ${name}`);
  const end = schema.indexOf('\n];', start);
  return schema.slice(start, end);
}

// `name: "word"` right after each `Block {` / `Decl {`.
const names = (text, struct) =>
  [...text.matchAll(new RegExp(`${struct} \\{\\s*name: "([a-z_]+)"`, 'g'))].map((m) => m[1]);
// The first string of each tuple.
const firsts = (text) => [...text.matchAll(/\(\s*"([a-z_]+)"/g)].map((m) => m[1]);

const blocks = names(constant('BLOCKS'), 'Block');
const decls = names(constant('DECLS'), 'Decl');
const kinds = [...constant('DECL_KINDS').matchAll(/Kind::([A-Za-z]+)/g)].map((m) => m[1].toLowerCase());
const topLevel = decls.filter((d) => kinds.includes(d) && d !== 'flow');
const sections = decls.filter((d) => !kinds.includes(d));
const paramTypes = firsts(constant('PARAM_TYPES'));
const variables = [...firsts(constant('VARIABLES')), ...firsts(constant('HANDOFF_VARIABLES'))];

const repo = grammar.repository;
const rhaiVariables = repo.rhai.patterns.find((p) => p.name === 'variable.language.dialect').match;
const blockRegexes = [repo.block.begin, repo.goto.match, repo.set.begin, repo.use.begin].join('\n');
const sectionRegexes = [repo.section.begin, repo.ivr.begin].join('\n');

// Whether `word` is one alternative of a `(a|b|c)` group in `regex`.
const alternative = (regex, word) => new RegExp(`[(|:]${word}[|)]`).test(regex);

const checks = [
  ['block', blocks, blockRegexes],
  ['declaration', topLevel, repo.declaration.begin],
  ['section', sections, sectionRegexes],
  ['parameter type', paramTypes, repo.parameters.patterns[1].match],
  ['expression variable', variables, rhaiVariables],
];

let failures = 0;
for (const [what, words, regex] of checks) {
  if (words.length === 0) {
    console.error(`FAIL: found no ${what}s in schema.rs (has its layout changed?)`);
    failures += 1;
    continue;
  }
  for (const word of words) {
    if (!alternative(regex, word) && !regex.includes(`(${word})`)) {
      console.error(`FAIL: the grammar does not know the ${what} \`${word}\` of schema.rs`);
      failures += 1;
    }
  }
  console.log(`${what}s: ${words.length} (${words.join(' ')})`);
}
if (failures) process.exit(1);
console.log('the grammar knows every word of schema.rs');
