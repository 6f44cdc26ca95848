#!/usr/bin/env node
// `npm run build`'s second half: tsc compiles src/**/*.ts into bin/ but copies
// nothing else, and the shell the code reads at run time (src/**/*.sh, e.g. the
// backup uploader's parts) must sit beside the compiled module that loads it.
//
//   node scripts/copy-assets.js   (prints what it copied, on stderr)
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const from = path.join(root, "src");
const to = path.join(root, "bin");

function assets(dir) {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) return assets(file);
        return entry.isFile() && entry.name.endsWith(".sh") ? [file] : [];
    });
}

const files = assets(from);
if (files.length === 0) throw new Error(`no .sh files under ${from}: run this from an etcd-recovery checkout`);
for (const file of files) {
    const target = path.join(to, path.relative(from, file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(file, target);
}
// On stderr: `npm pack --json` runs this (prepack) and its stdout must stay JSON.
console.error(`copy-assets: ${files.length} .sh file(s) from src/ to bin/: ${files.map((f) => path.relative(from, f)).join(", ")}`);
