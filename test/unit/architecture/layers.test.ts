/**
 * The layer rule of src/: imports only point down.
 *   contracts, shared, config, ingest, inference, events: nothing from pipeline, indexing, gateway, transport, cli, library;
 *   pipeline: nothing from gateway, transport, cli, library;
 *   gateway, transport, indexing: nothing from cli, library (the top layers);
 *   nothing in src imports bench/.
 * Every static import and export-from, every dynamic import('...'), and every
 * new URL('...', import.meta.url) (a module loaded by its path) is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src');

const TOP = ['cli', 'library'];
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  contracts: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  shared: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  config: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  ingest: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  inference: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  events: ['pipeline', 'indexing', 'gateway', 'transport', ...TOP],
  pipeline: ['gateway', 'transport', ...TOP],
  gateway: TOP,
  transport: TOP,
  indexing: TOP,
  library: ['cli'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers of a file's static imports, export-froms, side-effect imports and literal dynamic imports. Pure. */
function importSpecifiers(text: string): string[] {
  // Comments out first, so a doc comment's example is no import.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`$]+)['"`]\s*[,)]/g,
    /\bnew\s+URL\s*\(\s*['"`]([^'"`$]+)['"`]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]!);
  return found;
}

/** The src/ folder (layer) a path lies in, 'bench' for bench/, undefined elsewhere (node_modules, node:). */
function layerOf(path: string): string | undefined {
  const fromRoot = relative(ROOT, path).split(sep);
  if (fromRoot[0] === 'bench') return 'bench';
  if (fromRoot[0] !== 'src') return undefined;
  return fromRoot.length > 2 ? fromRoot[1] : '.';
}

test('the import reader sees static, export-from, side-effect and dynamic imports and module URLs, not comments', () => {
  const text = [
    "import { a } from '../pipeline/a.ts';",
    "import type {\n  B,\n} from '../gateway/b.ts';",
    "export { c } from './c.ts';",
    "import './d.ts';",
    "const e = await import('../transport/e.ts');",
    'const [f] = await Promise.all([import("../cli/f.ts")]);',
    '// import { g } from "../indexing/g.ts";',
    "/** import('../library/h.ts') */",
    "const entry = new URL('../../bench/run.ts', import.meta.url);",
  ].join('\n');
  assert.deepEqual(importSpecifiers(text).sort(), [
    '../../bench/run.ts',
    '../cli/f.ts',
    '../gateway/b.ts',
    '../pipeline/a.ts',
    '../transport/e.ts',
    './c.ts',
    './d.ts',
  ]);
});

test('imports in src only point down the layers, and nothing imports bench/', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file)!;
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      checked++;
      const to = layerOf(resolve(dirname(file), spec));
      const rule = FORBIDDEN[from] ?? [];
      if (to === 'bench' || (to !== undefined && rule.includes(to))) broken.push(`${relative(ROOT, file)} imports '${spec}' (${from} -> ${to})`);
    }
  }
  assert.ok(checked > 100, `only ${checked} relative imports read: the reader is broken`);
  assert.deepEqual(broken, [], `imports that break the layer rule:\n  ${broken.join('\n  ')}`);
});
