#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm ci` (the prepare script) or `npm run build`.
import('../dist/framework/cli/main.js').then((m) => m.main(process.argv.slice(2)));
