// `npm run build`: compiles src/ to dist/ (JavaScript and .d.ts, tsconfig.build.json)
// and copies the dashboard's static files beside the compiled gateway.
// dist/ is emptied first, so a file removed from src/ does not live on in it.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
cpSync(new URL('../src/gateway/dashboard/', import.meta.url), new URL('../dist/gateway/dashboard/', import.meta.url), { recursive: true });

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits, not in the
// declarations: a consumer's TypeScript would look for .ts files there.
const RELATIVE_TS = /(['"])(\.{1,2}\/[^'"\n]*?)\.ts\1/g;
for (const entry of readdirSync(dist, { recursive: true })) {
  if (!String(entry).endsWith('.d.ts')) continue;
  const file = join(dist, String(entry));
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(RELATIVE_TS, '$1$2.js$1');
  if (fixed !== text) writeFileSync(file, fixed);
}
