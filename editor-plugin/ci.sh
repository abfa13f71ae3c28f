#!/usr/bin/env bash
# The editor plugin from a clean install: dependencies from the lockfile, the
# grammar tests (and the grammar against schema.rs, the snippet samples), the
# .vsix, and a look inside the .vsix for everything the extension needs at
# run time. Needs Node.js 20+ and npm; installs nothing globally.
set -euo pipefail
cd "$(dirname "$0")"

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== tests"
npm test

echo "== against the real language server"
# The binary of this checkout (`cargo build` first), unless DIALECT_BIN names one.
export DIALECT_BIN="${DIALECT_BIN:-$(pwd)/../target/debug/dialect}"
npm run --silent test:server

echo "== package"
vsix="dialect-$(node -p 'require("./package.json").version').vsix"
rm -f "$vsix"
npm run package

echo "== contents of $vsix"
listing=$(unzip -l "$vsix")
missing=0
for path in \
  extension/package.json \
  extension/extension.js \
  extension/language-configuration.json \
  extension/syntaxes/dialect.tmLanguage.json \
  extension/snippets/dialect.json \
  extension/media/graph.js \
  extension/media/graph.css \
  extension/media/vendor/mermaid.min.js \
  extension/node_modules/vscode-languageclient/package.json \
  extension/node_modules/vscode-languageclient/node.js \
  extension/node_modules/vscode-languageserver-protocol/package.json \
  extension/node_modules/vscode-jsonrpc/package.json; do
  if ! grep -q " $path\$" <<<"$listing"; then
    echo "missing from $vsix: $path"
    missing=1
  fi
done
# Nothing of the development set-up goes in.
for pattern in 'extension/test/' 'extension/ci.sh' 'extension/node_modules/mermaid/' 'extension/node_modules/@vscode/vsce' 'extension/node_modules/vscode-tmgrammar-test/'; do
  if grep -q " $pattern" <<<"$listing"; then
    echo "$vsix should not hold $pattern"
    missing=1
  fi
done
[ "$missing" = 0 ] || exit 1
files=$(tail -n 1 <<<"$listing" | awk '{print $2}')
echo "ok: $vsix, $(du -h "$vsix" | cut -f1), $files files"
