#!/usr/bin/env node
// Entry point for `npx hookscope`: runs the compiled CLI from app/dist.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', '..', 'app', 'dist', 'main', 'cli', 'index.js');
if (!fs.existsSync(entry)) {
  console.error(
    'hookscope: not built yet — run `npm ci` (or `npm run build`) in ' +
      path.join(__dirname, '..', '..'),
  );
  process.exit(2);
}
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error('hookscope: internal error: ' + (err && err.stack ? err.stack : String(err)));
      process.exit(70);
    },
  );
