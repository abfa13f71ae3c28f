// Parses each Mermaid file named on the command line with the real Mermaid
// parser (`mermaid.parse`), in Node with a jsdom window (Mermaid expects a
// browser). Prints `ok FILE TYPE` or `FAIL FILE: reason`; exits 1 if any fails.
import fs from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, 'utf8');
  try {
    const result = await mermaid.parse(text);
    console.log(`ok ${file} ${result.diagramType}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${file}: ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
