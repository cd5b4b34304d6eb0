/**
 * Just enough of Docker's file formats for the deploy tests, which run
 * where no Docker engine does: a Dockerfile's stages and instructions, and
 * .dockerignore's matching (Go's filepath.Match patterns, `**`, `!`).
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, ... */
  op: string;
  /** `--from=deps` and the like, by name. */
  flags: Record<string, string>;
  /** The rest of the line, continuations joined, flags removed. */
  args: string;
  /** The arguments when written as a JSON array (exec form). */
  exec?: string[];
  line: number;
}

export interface Stage {
  /** FROM's image, ARG defaults substituted. */
  from: string;
  name?: string;
  index: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

/** Logical lines: comments and blank lines dropped, `\` continuations joined. */
function logicalLines(text: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let current: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && current === undefined)) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    current = current ? { text: `${current.text} ${part}`.trim(), line: current.line } : { text: part, line: i + 1 };
    if (!continued) {
      out.push(current);
      current = undefined;
    }
  });
  if (current) out.push(current);
  return out;
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a?: string, b?: string) => vars[(a ?? b)!] ?? m);
}

export function parseDockerfile(file: string): Dockerfile {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text, line } of logicalLines(readFileSync(file, 'utf8'))) {
    const m = /^(\S+)\s*(.*)$/.exec(text)!;
    const op = m[1]!.toUpperCase();
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    // Flags come first: --from=x, --chown=a:b, --interval=15s (HEALTHCHECK's too).
    for (let f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
      flags[f[1]!] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
    const instruction: Instruction = { op, flags, args: rest, line };
    const json = op === 'HEALTHCHECK' ? /^CMD\s+(\[.*\])$/.exec(rest)?.[1] : /^\[.*\]$/.test(rest) ? rest : undefined;
    if (json !== undefined) instruction.exec = JSON.parse(json) as string[];
    if (op === 'ARG' && stages.length === 0) {
      const eq = rest.indexOf('=');
      args[eq < 0 ? rest : rest.slice(0, eq)] = eq < 0 ? '' : rest.slice(eq + 1);
    } else if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: substitute(from[1]!, args), ...(from[2] ? { name: from[2] } : {}), index: stages.length, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`${file}:${line}: ${op} before the first FROM`);
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** Instructions of a stage with the given op. */
export function ops(stage: Stage, op: string): Instruction[] {
  return stage.instructions.filter((i) => i.op === op);
}

/** ENV of a stage (`ENV A=1 B=2`), in order, later wins. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of ops(stage, 'ENV')) {
    for (const pair of i.args.match(/[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|\S*)/g) ?? []) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** The stage named, or the one `FROM name` refers to. */
export function stageNamed(df: Dockerfile, name: string): Stage | undefined {
  return df.stages.find((s) => s.name === name);
}

/** A stage's RUN commands, each split at `&&` into single commands. */
export function commandsOf(stage: Stage): string[] {
  return ops(stage, 'RUN').flatMap((i) => i.args.split('&&').map((c) => c.trim()));
}

/** COPY's sources and destination (the last word). */
export function copyParts(i: Instruction): { sources: string[]; dest: string } {
  const words = i.exec ?? i.args.split(/\s+/);
  return { sources: words.slice(0, -1), dest: words[words.length - 1]! };
}

/** The patterns of a .dockerignore file, in order (`!` kept). */
export function readDockerignore(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function patternRegExp(pattern: string): RegExp {
  const clean = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < clean.length; i++) {
    const c = clean[i]!;
    if (c === '*' && clean[i + 1] === '*') {
      // `**/` is any number of folders (none too); `**` at the end anything.
      if (clean[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether Docker leaves `path` (relative to the context, `/`-separated) out
 * of the build context: the last pattern that matches it or one of its
 * parent folders decides, `!` patterns put it back.
 */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const re = patternRegExp(negate ? p.slice(1) : p);
    if (prefixes.some((prefix) => re.test(prefix))) ignored = !negate;
  }
  return ignored;
}
