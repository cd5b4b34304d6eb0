/**
 * Dockerfile and Dockerfile.gpu, checked where no Docker engine runs: their
 * stages read as the images the README promises (Node 20 on Debian bookworm;
 * CUDA 12 + cuDNN 9 for the GPU one; Debian's ffmpeg, production
 * dependencies only, compiled dist/, a non-root user, a health check), every
 * COPY finds its source in the build context (.dockerignore applied) or in
 * an earlier stage, and the CPU image's steps are run here, in a folder per
 * stage, as far as this machine allows: the build stage's COPYs must be
 * enough for a real `npm run build`, and the runtime stage's layout, with the
 * lockfile's production packages only, must run `streamsight` and answer the
 * image's own HEALTHCHECK command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { ROOT } from '../../helpers/cli.ts';
import { freePort } from '../../helpers/ports.ts';
import { TestRedis } from '../transport/redis-server.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';
import {
  commandsOf,
  copyParts,
  envOf,
  isIgnored,
  ops,
  parseDockerfile,
  readDockerignore,
  stageNamed,
  type Dockerfile,
  type Instruction,
  type Stage,
} from './dockerfile.ts';
import { waitFor } from '../../helpers/wait.ts';

const CPU = parseDockerfile(join(ROOT, 'Dockerfile'));
const GPU = parseDockerfile(join(ROOT, 'Dockerfile.gpu'));
const IGNORE = readDockerignore(join(ROOT, '.dockerignore'));
const NODE_20_BOOKWORM = /^node:20(\.\d+)*-bookworm(-slim)?$/;
const HEALTHCHECK_URL = 'http://127.0.0.1:8080/healthz';
const ORT = join(ROOT, 'node_modules', 'onnxruntime-node');

const last = (df: Dockerfile): Stage => df.stages[df.stages.length - 1]!;

function stage(df: Dockerfile, name: string): Stage {
  const s = stageNamed(df, name);
  assert.ok(s, `a stage named ${name}`);
  return s;
}

/** The base image a stage ends up on, through `FROM <earlier stage>`. */
function baseImage(df: Dockerfile, s: Stage): string {
  const parent = stageNamed(df, s.from);
  return parent && parent.index < s.index ? baseImage(df, parent) : s.from;
}

function lastOf(s: Stage, op: string): Instruction | undefined {
  return ops(s, op).at(-1);
}

/** What both images' runtime stages must hold. */
function checkRuntime(df: Dockerfile, file: string): void {
  const runtime = last(df);
  const cmds = commandsOf(runtime);
  // Debian's (or Ubuntu's) ffmpeg, without recommends, package lists removed in the same layer.
  const aptRun = ops(runtime, 'RUN').find((i) => /apt-get install/.test(i.args));
  assert.ok(aptRun, `${file}: the runtime installs ffmpeg with apt-get`);
  assert.match(
    aptRun.args,
    /^apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf \/var\/lib\/apt\/lists\/\*$/,
    `${file}: ${aptRun.args}`,
  );

  // A user of its own, not root, set after the last RUN (nothing runs as root at run time).
  const user = lastOf(runtime, 'USER');
  assert.ok(user, `${file}: the runtime sets USER`);
  assert.ok(!['root', '0', '0:0'].includes(user.args), `${file}: USER ${user.args} is root`);
  assert.ok(user.line > ops(runtime, 'RUN').at(-1)!.line, `${file}: USER comes after the last RUN`);
  const useradd = cmds.find((c) => c.startsWith('useradd '));
  assert.ok(useradd, `${file}: the runtime creates its user`);
  assert.ok(useradd.endsWith(` ${user.args}`), `${file}: the runtime creates the user ${user.args}: ${useradd}`);
  assert.match(useradd, /--uid \d{4,} /, 'a fixed uid, clear of system users');

  // Models: a volume at STREAMSIGHT_MODELS_DIR (which the config loader maps to models.cacheDir), owned by the user.
  const env = envOf(runtime);
  const modelsDir = env.STREAMSIGHT_MODELS_DIR;
  assert.ok(modelsDir, `${file}: STREAMSIGHT_MODELS_DIR is set`);
  const loader = readFileSync(join(ROOT, 'src/config/loader.ts'), 'utf8');
  assert.match(loader, /STREAMSIGHT_MODELS_DIR: \{ path: 'models\.cacheDir'/, 'the loader still reads STREAMSIGHT_MODELS_DIR');
  assert.deepEqual(lastOf(runtime, 'VOLUME')?.exec, [modelsDir], `${file}: VOLUME ["${modelsDir}"]`);
  assert.ok(cmds.includes(`mkdir -p ${modelsDir}`), `${file}: the models folder is made`);
  assert.ok(
    cmds.some((c) => new RegExp(`^chown -R ${user.args}:${user.args} ${dirname(modelsDir)}$`).test(c)),
    `${file}: and owned by ${user.args}`,
  );
  assert.ok(lastOf(runtime, 'VOLUME')!.line > lastOf(runtime, 'RUN')!.line, `${file}: VOLUME after the RUN that fills it`);

  // What runs: the compiled CLI, its health check a node one-liner (no curl in the image).
  assert.deepEqual(lastOf(runtime, 'ENTRYPOINT')?.exec, ['node', '/app/bin/streamsight.js'], `${file}: ENTRYPOINT`);
  assert.equal(lastOf(runtime, 'WORKDIR')?.args, '/app');
  const health = lastOf(runtime, 'HEALTHCHECK');
  assert.ok(health?.exec, `${file}: HEALTHCHECK CMD [...]`);
  assert.equal(health.exec[0], 'node');
  assert.ok(health.exec.join(' ').includes(HEALTHCHECK_URL), `${file}: the health check asks ${HEALTHCHECK_URL}`);
  assert.ok(health.flags['start-period'], `${file}: a start period (the model loads first)`);

  // Contents: compiled dist/ and production node_modules from the earlier stages; no sources, tests or dev tools.
  const copies = ops(runtime, 'COPY');
  const fromStage = (src: string): string | undefined => copies.find((c) => copyParts(c).sources.includes(src))?.flags.from;
  assert.equal(fromStage('/app/dist/'), 'build', `${file}: dist/ comes from the build stage`);
  assert.equal(fromStage('/app/node_modules/'), 'deps', `${file}: node_modules/ from the deps stage (npm ci --omit=dev)`);
  const contextSources = copies.filter((c) => !c.flags.from).flatMap((c) => copyParts(c).sources);
  for (const need of ['package.json', 'bin/', 'config/', 'models/manifest.json', 'models/imagenet-classes.txt']) {
    assert.ok(contextSources.includes(need), `${file}: the runtime copies ${need}`);
  }
  for (const src of contextSources) assert.doesNotMatch(src, /^(src|test|bench|scripts|node_modules)\b/, `${file}: the runtime copies ${src}`);
  assert.ok(!cmds.some((c) => /\bnpm\b|\btsx\b/.test(c)), `${file}: no npm in the runtime stage`);

  // The deps stage: production dependencies only.
  const deps = stage(df, 'deps');
  assert.ok(
    commandsOf(deps).some((c) => /^npm ci --omit=dev\b/.test(c)),
    `${file}: deps runs npm ci --omit=dev`,
  );
  // The build stage: every dependency, then the compiler.
  const build = stage(df, 'build');
  const buildCmds = commandsOf(build);
  assert.ok(
    buildCmds.some((c) => /^npm ci\b/.test(c) && !c.includes('--omit')),
    `${file}: build runs a full npm ci`,
  );
  assert.ok(buildCmds.includes('npm run build'), `${file}: build runs npm run build`);
  assert.equal(envOf(build).ONNXRUNTIME_NODE_INSTALL, 'skip', `${file}: the compiler needs no CUDA provider`);
}

describe('the image definitions', () => {
  test("Dockerfile: multi-stage on node:20-bookworm; deps (npm ci --omit=dev, CUDA provider skipped), build (npm ci, npm run build), runtime with Debian's ffmpeg, a non-root user, a models volume, HEALTHCHECK and ENTRYPOINT streamsight", () => {
    assert.ok(CPU.stages.length >= 3, 'multi-stage');
    for (const s of CPU.stages) assert.match(baseImage(CPU, s), NODE_20_BOOKWORM, `stage ${s.name ?? s.index}`);
    assert.equal(envOf(stage(CPU, 'deps')).ONNXRUNTIME_NODE_INSTALL, 'skip', 'the CPU image fetches no CUDA provider');
    checkRuntime(CPU, 'Dockerfile');
  });

  test("Dockerfile.gpu: CUDA 12 + cuDNN 9 runtime on Ubuntu 24.04 (an ffmpeg with -fps_mode), Node 20 from the Node image, the CUDA provider fetched by npm ci and checked for; runtime as the CPU image's, --device cuda by default", () => {
    const runtime = last(GPU);
    // Ubuntu 22.04's ffmpeg is 4.4; the decoder passes -fps_mode (ffmpeg 5.1 and later).
    assert.match(baseImage(GPU, runtime), /^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu24\.04$/);
    assert.match(readFileSync(join(ROOT, 'src/ingest/ffmpeg-args.ts'), 'utf8'), /'-fps_mode'/, 'the reason for Ubuntu 24.04 still holds');
    assert.equal(baseImage(GPU, stage(GPU, 'deps')), baseImage(GPU, runtime), "native modules installed on the runtime's base");
    assert.match(stage(GPU, 'node').from, NODE_20_BOOKWORM);
    const nodeCopies = [...ops(stage(GPU, 'cuda-node'), 'COPY'), ...ops(stage(GPU, 'deps'), 'COPY')].filter((c) => c.flags.from === 'node');
    // The official Node image's layout.
    assert.deepEqual(
      nodeCopies.map((c) => copyParts(c).sources[0]),
      ['/usr/local/bin/node', '/usr/local/lib/node_modules/npm'],
    );

    const deps = stage(GPU, 'deps');
    assert.equal(envOf(deps).ONNXRUNTIME_NODE_INSTALL, 'cuda12');
    const check = commandsOf(deps).find((c) => c.startsWith('test -f '));
    assert.equal(check, 'test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so');
    assert.equal(envOf(runtime).STREAMSIGHT_DEVICE, 'cuda');
    checkRuntime(GPU, 'Dockerfile.gpu');
  });

  test("onnxruntime-node's install script takes both settings: skip fetches nothing and exits 0; cuda12 is a valid choice whose manifest holds the file Dockerfile.gpu checks for, where the script puts it", () => {
    const script = join(ORT, 'script', 'install.js');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_|^ONNXRUNTIME_NODE_INSTALL/.test(k)));
    const skip = spawnSync(process.execPath, [script], { cwd: ORT, env: { ...env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(skip.status, 0, skip.stderr);
    assert.equal(skip.stdout + skip.stderr, '', 'nothing downloaded, nothing said');

    const parse = spawnSync(process.execPath, ['-e', 'require("./script/install-utils.js").parseInstallFlag()'], {
      cwd: ORT,
      env: { ...env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' },
      encoding: 'utf8',
    });
    assert.equal(parse.status, 0, `ONNXRUNTIME_NODE_INSTALL=cuda12 refused: ${parse.stderr}`);
    const metadata = createRequire(import.meta.url)(join(ORT, 'script', 'install-metadata.js')) as {
      requirements: Record<string, string[]>;
      manifests: Record<string, Record<string, unknown>>;
    };
    assert.ok(metadata.requirements['linux/x64']?.includes('cuda12'));
    assert.ok('./libonnxruntime_providers_cuda.so' in (metadata.manifests['linux/x64:cuda12'] ?? {}));
    assert.match(readFileSync(script, 'utf8'), /path\.join\(__dirname, '\.\.', 'bin\/napi-v6', PLATFORM\)/, 'files land in bin/napi-v6/<platform>/');
    // The CPU provider is in the package itself: the CPU image needs nothing fetched.
    assert.ok(existsSync(join(ORT, 'bin', 'napi-v6', 'linux', 'x64', 'onnxruntime_binding.node')));
  });

  test('.dockerignore keeps installed and built trees, git, caches, downloaded models and test data out of the build context, and nothing the images need', () => {
    for (const out of [
      'node_modules',
      'node_modules/ws/package.json',
      'dist/cli/main.js',
      '.git/HEAD',
      'tmp/x.mp4',
      'test-output/a.json',
      '.bench-cache/resnet50.onnx',
      'models/resnet50.onnx',
      'models/resnet50.onnx.part',
      'models/downloads/a',
      'videos/clip.mp4',
      'test/unit/a.test.ts',
      'bench/run.ts',
      'run.log',
      'archive.db',
    ]) {
      assert.ok(isIgnored(out, IGNORE), `${out} is left out`);
    }
    const tracked = execFileSync(
      'git',
      [
        'ls-files',
        'src',
        'bin',
        'config',
        'scripts/build.mjs',
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'tsconfig.build.json',
        'LICENSE',
        'README.md',
        'models',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    for (const file of tracked.trim().split('\n')) assert.ok(!isIgnored(file, IGNORE), `${file} is in the context`);
  });

  test('every COPY takes a source from the build context (not left out by .dockerignore) or from an earlier stage', () => {
    for (const [file, df] of [
      ['Dockerfile', CPU],
      ['Dockerfile.gpu', GPU],
    ] as const) {
      for (const s of df.stages) {
        for (const c of ops(s, 'COPY')) {
          const { sources } = copyParts(c);
          const from = c.flags.from;
          if (from !== undefined) {
            const earlier = stageNamed(df, from);
            assert.ok(earlier && earlier.index < s.index, `${file}:${c.line}: --from=${from} is an earlier stage`);
            continue; // what the stage makes is checked by running it (below) and by the runtime checks
          }
          for (const src of sources) {
            assert.ok(existsSync(join(ROOT, src)), `${file}:${c.line}: ${src} exists`);
            assert.ok(!isIgnored(src.replace(/\/$/, ''), IGNORE), `${file}:${c.line}: ${src} is not left out by .dockerignore`);
          }
        }
      }
    }
  });
});

/**
 * Runs a Dockerfile's stages outside Docker: each stage gets a folder as its
 * file system (absolute paths land under it), COPY copies (.dockerignore
 * applied), and each RUN command is done here when it can be, or stood in
 * for when it needs root or the network: a command this table does not know
 * fails the test, so a new step gets looked at.
 */
class StageRunner {
  readonly roots = new Map<string, string>();

  constructor(
    private readonly df: Dockerfile,
    private readonly base: string,
  ) {}

  root(s: Stage): string {
    const key = s.name ?? String(s.index);
    let dir = this.roots.get(key);
    if (!dir) {
      dir = join(this.base, key);
      mkdirSync(dir, { recursive: true });
      this.roots.set(key, dir);
    }
    return dir;
  }

  /** Runs every stage, in order. */
  run(): void {
    for (const s of this.df.stages) this.runStage(s);
  }

  private runStage(s: Stage): void {
    const root = this.root(s);
    let workdir = '/';
    const env: Record<string, string> = {};
    for (const i of s.instructions) {
      if (i.op === 'WORKDIR') {
        workdir = i.args;
        mkdirSync(join(root, workdir), { recursive: true });
      } else if (i.op === 'ENV') {
        Object.assign(env, envOf({ ...s, instructions: [i] }));
      } else if (i.op === 'COPY') {
        this.copy(s, i, workdir);
      } else if (i.op === 'RUN') {
        for (const cmd of i.args.split('&&').map((c) => c.trim())) this.command(cmd, root, join(root, workdir), env, i);
      }
    }
  }

  private copy(s: Stage, i: Instruction, workdir: string): void {
    const { sources, dest } = copyParts(i);
    const target = join(this.root(s), dest.startsWith('/') ? dest : join(workdir, dest));
    for (const src of sources) {
      const from = i.flags.from;
      const origin = from === undefined ? join(ROOT, src) : join(this.root(stageNamed(this.df, from)!), src);
      assert.ok(existsSync(origin), `line ${i.line}: COPY ${from ? `--from=${from} ` : ''}${src}: not there`);
      // A folder's contents go into the destination; a file into it (dest/) or to it.
      const isDir = statSync(origin).isDirectory();
      const into = isDir || !dest.endsWith('/') ? target : join(target, basename(origin));
      mkdirSync(isDir ? into : dirname(into), { recursive: true });
      cpSync(origin, into, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (p) => from !== undefined || !isIgnored(relative(ROOT, p), IGNORE),
      });
    }
  }

  /** One command of a RUN, in `cwd` (under the stage's folder `root`). */
  private command(cmd: string, root: string, cwd: string, env: Record<string, string>, i: Instruction): void {
    const inRoot = (p: string): string => join(root, p);
    const run = (file: string, args: string[]): void => {
      const r = spawnSync(file, args, {
        cwd,
        env: { ...process.env, ...env, PATH: `${inRoot('/usr/local/bin')}:${process.env.PATH}` },
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `line ${i.line}: ${cmd}\n${r.stdout}\n${r.stderr}`);
    };
    let m: RegExpExecArray | null;
    if (/^npm ci --omit=dev\b/.test(cmd)) {
      // Needs the registry: the lockfile's production packages, from this checkout's install.
      productionModules(join(cwd, 'node_modules'));
    } else if (/^npm ci\b/.test(cmd)) {
      symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'));
    } else if (cmd === 'npm run build') {
      run('npm', ['run', 'build']);
    } else if (cmd === 'apt-get update' || cmd === 'rm -rf /var/lib/apt/lists/*') {
      // root and the network; nothing to check here
    } else if ((m = /^apt-get install -y --no-install-recommends (.+)$/.exec(cmd))) {
      const packages = m[1]!.split(/\s+/);
      if (packages.includes('ffmpeg')) {
        // Debian 12's ffmpeg, as the bookworm image gets it, is the one this machine runs.
        assert.deepEqual(packages, ['ffmpeg']);
        execFileSync('ffmpeg', ['-hide_banner', '-version']);
      } else {
        // node-gyp's tools, for better-sqlite3 when its prebuilt binary cannot be fetched: the ones this machine builds it with.
        assert.deepEqual(packages, ['python3', 'make', 'g++']);
        for (const tool of packages) execFileSync(tool, ['--version'], { stdio: 'ignore' });
      }
    } else if (/^(groupadd|useradd|chown) /.test(cmd)) {
      // root only; the user's name and uid are checked above
    } else if ((m = /^mkdir -p (\/\S+)$/.exec(cmd))) {
      mkdirSync(inRoot(m[1]!), { recursive: true });
    } else if ((m = /^ln -s (\/\S+) (\/\S+)$/.exec(cmd))) {
      mkdirSync(dirname(inRoot(m[2]!)), { recursive: true });
      symlinkSync(inRoot(m[1]!), inRoot(m[2]!));
    } else if ((m = /^streamsight (.+)$/.exec(cmd))) {
      run(inRoot('/usr/local/bin/streamsight'), m[1]!.split(/\s+/));
    } else {
      assert.fail(`line ${i.line}: this test does not know how to check \`${cmd}\`; teach StageRunner.command`);
    }
  }
}

/** node_modules holding the lockfile's non-dev packages only (links into this checkout's). */
function productionModules(dir: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    const name = path.slice('node_modules/'.length);
    if (!path.startsWith('node_modules/') || name.includes('/node_modules/') || p.dev) continue;
    const installed = join(ROOT, 'node_modules', name);
    if (!existsSync(installed)) {
      assert.ok(p.optional, `production package ${name} is not installed in the checkout`);
      continue; // another platform's binary
    }
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    symlinkSync(installed, join(dir, name));
    names.push(name);
  }
  for (const dev of ['tsx', 'typescript', 'eslint']) assert.ok(!names.includes(dev), `${dev} is a dev dependency`);
}

describe("the CPU image's steps, run here", () => {
  const base = mkdtempSync(join(tmpdir(), 'ss-docker-'));
  const runner = new StageRunner(CPU, base);
  const children: ChildProcess[] = [];
  let redis: TestRedis;
  let app: string;
  let runtimeEnv: Record<string, string>;
  const model = join(base, 'tiny.onnx');

  /** The image's ENTRYPOINT with these arguments, as the container would start it. */
  function entrypoint(args: string[], env: Record<string, string>): { child: ChildProcess; stderr: () => string } {
    const [file, ...rest] = lastOf(last(CPU), 'ENTRYPOINT')!.exec!;
    const child = spawn(file!, [...rest.map((a) => (a.startsWith('/') ? join(runner.roots.get('runtime')!, a) : a)), ...args], {
      cwd: app,
      env: { PATH: process.env.PATH!, HOME: base, ...runtimeEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.resume();
    return { child, stderr: () => stderr };
  }

  /** The image's HEALTHCHECK command, aimed at `port` instead of 8080; its exit code. */
  function healthcheck(port: number): number | null {
    const [file, ...args] = lastOf(last(CPU), 'HEALTHCHECK')!.exec!;
    const r = spawnSync(
      file!,
      args.map((a) => a.replace('127.0.0.1:8080/', `127.0.0.1:${port}/`)),
      { encoding: 'utf8', timeout: 10_000 },
    );
    return r.status;
  }

  before(async () => {
    writeTinyModel(model);
    redis = await TestRedis.start();
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await redis.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test("every stage's steps run: the build stage's COPYs are enough for npm run build, the runtime layout (production packages only) answers `streamsight --version` and --help", () => {
    runner.run();
    const root = runner.roots.get('runtime');
    assert.ok(root, 'a stage named runtime');
    app = join(root, 'app');
    for (const need of [
      'dist/cli/main.js',
      'dist/index.js',
      'dist/gateway/dashboard',
      'bin/streamsight.js',
      'config/default.yaml',
      'models/manifest.json',
      'package.json',
      'node_modules/onnxruntime-node',
    ]) {
      assert.ok(existsSync(join(app, need)), `runtime /app/${need}`);
    }
    assert.ok(!existsSync(join(app, 'src')), 'no sources in the runtime');
    assert.ok(!existsSync(join(app, 'node_modules', 'tsx')), 'no dev dependencies in the runtime');
    runtimeEnv = Object.fromEntries(Object.entries(envOf(last(CPU))).map(([k, v]) => [k, v.startsWith('/') ? join(root, v) : v]));
    const help = spawnSync(process.execPath, [join(app, 'bin', 'streamsight.js'), 'worker', '--help'], {
      cwd: app,
      env: { ...process.env, ...runtimeEnv },
      encoding: 'utf8',
    });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--health-port/);
  });

  test("the image's HEALTHCHECK command passes against `worker --health-port` and `gateway --port` started by its ENTRYPOINT, and fails once the worker's Redis is gone", async (t) => {
    if (app === undefined) return t.skip('the stages did not run');
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: `dockerfile${process.pid}`, STREAMSIGHT_LOG_LEVEL: 'warn' };
    const workerPort = await freePort();
    const worker = entrypoint(['worker', '--model', model, '--threads', '1', '--health-port', String(workerPort)], env);
    await waitFor('worker ready', () => worker.stderr().includes('streamsight worker: ready'), { timeoutMs: 60_000, intervalMs: 250, detail: worker.stderr });
    assert.equal(healthcheck(workerPort), 0, worker.stderr());

    const gatewayPort = await freePort();
    const gateway = entrypoint(['gateway', '--port', String(gatewayPort)], env);
    await waitFor('gateway healthy', () => healthcheck(gatewayPort) === 0, { timeoutMs: 30_000, intervalMs: 250, detail: gateway.stderr });

    await redis.stop();
    await waitFor('health check failing', () => healthcheck(workerPort) === 1, { timeoutMs: 15_000, intervalMs: 250, detail: worker.stderr });
    for (const c of [worker.child, gateway.child]) {
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      await exited;
    }
    assert.equal(worker.child.exitCode, 0, worker.stderr());
  });
});
