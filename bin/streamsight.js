#!/usr/bin/env node
// The `streamsight` command. An installed package (and a checkout after
// `npm run build`) runs the compiled JavaScript in dist/; a checkout that was
// never built runs the TypeScript sources through tsx, a dev dependency.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
