/**
 * docker-compose.yml, checked without an engine (Docker does not run here):
 * Debian's docker-compose validates and resolves it, and what it resolves
 * must be a deployment of the distributed mode that works: Redis as BullMQ
 * needs it, every role health-checked and restarted, workers scalable, each
 * role's command line one that `streamsight` accepts, every StreamSight
 * service on the image the Dockerfiles build (no source folder mounted,
 * nothing installed at start), and the health checks of `worker` and
 * `ingest` asking their health port, shown to pass against real processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { CLI, ROOT } from '../../helpers/cli.ts';
import { makeClip } from '../../helpers/clips.ts';
import { freePort } from '../../helpers/ports.ts';
import { TestRedis } from '../transport/redis-server.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';
import { envOf, ops, parseDockerfile } from './dockerfile.ts';

interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  entrypoint?: string[] | string;
  command?: string[] | string;
  healthcheck?: { test?: string[] | string };
  restart?: string;
  depends_on?: Record<string, { condition?: string }>;
  environment?: Record<string, string>;
  ports?: unknown[];
  volumes?: string[];
  container_name?: string;
  profiles?: string[];
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } } };
}

interface ComposeConfig {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function compose(...args: string[]): ComposeConfig {
  const r = spawnSync('docker-compose', [...args, 'config'], { cwd: ROOT, encoding: 'utf8' });
  if (r.error) assert.fail(`docker-compose is not installed (.ci/run installs Debian's, --no-install-recommends): ${r.error.message}`);
  assert.equal(r.status, 0, `docker-compose ${args.join(' ')} config: ${r.stderr}`);
  return parse(r.stdout) as ComposeConfig;
}

const ALL_PROFILES = ['--profile', 'serve', '--profile', 'tools', '--profile', 'gpu'];
const words = (v: string[] | string | undefined): string[] => (Array.isArray(v) ? v : v === undefined ? [] : v.split(/\s+/));

/** The runtime stage of the Dockerfile a service is built from. */
function imageStage(s: Service) {
  const df = parseDockerfile(join(s.build?.context ?? ROOT, s.build?.dockerfile ?? 'Dockerfile'));
  return df.stages[df.stages.length - 1]!;
}

/** What the container runs: its entrypoint (the service's, else its image's) followed by its command. */
function argv(s: Service): string[] {
  const entry = s.entrypoint !== undefined ? words(s.entrypoint) : s.build ? (ops(imageStage(s), 'ENTRYPOINT').at(-1)?.exec ?? []) : [];
  return [...entry, ...words(s.command)];
}

/** The `streamsight ROLE --flags` part of what a service runs. */
function streamsightCall(service: Service): { role: string; flags: string[]; args: string[] } {
  const line = argv(service);
  const at = line.findIndex((w) => /bin\/streamsight\.js$/.test(w));
  assert.ok(at >= 0, `no streamsight call in: ${line.join(' ')}`);
  const args = line.slice(at + 2);
  return { role: line[at + 1]!, flags: args.filter((a) => /^--[a-z-]+$/.test(a)), args };
}

/** The value after `flag` in a command line. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

test('docker-compose config validates; Redis is configured for BullMQ; ingest, workers and gateway are health-checked, restarted, wait for a healthy Redis; workers can be scaled', () => {
  const { services } = compose();
  const redis = services.redis;
  assert.ok(redis, 'a redis service');
  const redisCommand = (Array.isArray(redis.command) ? redis.command : [redis.command ?? '']).join(' ');
  assert.match(redisCommand, /--maxmemory-policy noeviction/, 'BullMQ needs noeviction');
  assert.match(redisCommand, /--appendonly yes/, 'the queue survives a restart of the container');
  assert.ok(redis.healthcheck?.test, 'redis has a health check');

  for (const name of ['ingest', 'worker', 'gateway']) {
    const s = services[name];
    assert.ok(s, `a ${name} service`);
    assert.equal(streamsightCall(s).role, name, `${name} runs \`streamsight ${name}\``);
    assert.ok(s.healthcheck?.test, `${name} has a health check`);
    assert.equal(s.restart, 'unless-stopped', `${name} is restarted`);
    assert.equal(s.depends_on?.redis?.condition, 'service_healthy', `${name} starts once Redis is healthy`);
    assert.equal(s.environment?.REDIS_URL, 'redis://redis:6379', `${name} reaches the redis service`);
  }
  // --scale worker=N: no fixed name, no published port to collide on.
  assert.equal(services.worker!.container_name, undefined);
  assert.equal(services.worker!.ports, undefined);
});

test("the serve, tools and gpu profiles validate too, and every role's command line uses flags its `--help` lists", () => {
  const all = { ...compose().services, ...compose(...ALL_PROFILES).services };
  assert.ok(all.serve && all.analyze && all.models && all['worker-gpu'], 'serve, analyze, models and worker-gpu are behind profiles');
  const helps = new Map<string, string>();
  for (const [name, s] of Object.entries(all)) {
    if (name === 'redis') continue;
    const { role, flags } = streamsightCall(s);
    if (!helps.has(role)) helps.set(role, execFileSync(process.execPath, [CLI, role, '--help'], { cwd: ROOT, encoding: 'utf8' }));
    for (const flag of flags) assert.match(helps.get(role)!, new RegExp(`${flag}(?![a-z-])`), `${name}: \`streamsight ${role} --help\` has no ${flag}`);
  }
});

test("every StreamSight service runs the image the Dockerfiles build: no source folder mounted, nothing installed at start, models in a named volume at the image's STREAMSIGHT_MODELS_DIR", () => {
  const { services, volumes } = compose(...ALL_PROFILES);
  assert.ok(volumes && 'models' in volumes, 'a named volume `models`');
  const imageOf = new Map<string, string>();
  for (const [name, s] of Object.entries(services)) {
    if (name === 'redis') continue;
    assert.equal(s.build?.context, resolve(ROOT), `${name} is built from this folder`);
    const dockerfile = s.build?.dockerfile ?? 'Dockerfile';
    assert.ok(['Dockerfile', 'Dockerfile.gpu'].includes(dockerfile), `${name}: ${dockerfile}`);
    assert.ok(s.image, `${name} names its image (docker-compose build tags it; up does not pull it)`);
    // One image per Dockerfile, shared by the services built from it.
    assert.equal(imageOf.get(dockerfile) ?? s.image, s.image, `${name}: one image name per Dockerfile`);
    imageOf.set(dockerfile, s.image);
    assert.equal(s.entrypoint, undefined, `${name} keeps the image's ENTRYPOINT`);
    assert.doesNotMatch(argv(s).join(' '), /apt-get|\bnpm\b|\bnpx\b|\btsx\b|\bsh -c\b/, `${name}: nothing installed or compiled when the container starts`);

    const modelsDir = envOf(imageStage(s)).STREAMSIGHT_MODELS_DIR;
    const mounts = (s.volumes ?? []).map((v) => {
      const [source, target, mode] = v.split(':');
      return { source: source!, target: target!, mode };
    });
    assert.ok(
      mounts.some((m) => m.source === 'models' && m.target === modelsDir),
      `${name} mounts the models volume at ${modelsDir}`,
    );
    for (const m of mounts) {
      if (!m.source.startsWith('/')) continue; // a named volume
      // Bind mounts are data only: ./videos, read-only. Never the checkout or a part of it that holds code.
      assert.equal(m.source, join(ROOT, 'videos'), `${name}: bind mount of ${m.source}`);
      assert.equal(m.mode, 'ro', `${name}: ${m.source} is mounted read-only`);
    }
  }
  assert.deepEqual([...imageOf.keys()].sort(), ['Dockerfile', 'Dockerfile.gpu']);
  assert.notEqual(imageOf.get('Dockerfile'), imageOf.get('Dockerfile.gpu'), 'the GPU image has a name of its own');

  const gpu = services['worker-gpu']!;
  assert.equal(gpu.build?.dockerfile, 'Dockerfile.gpu');
  assert.equal(flagValue(streamsightCall(gpu).args, '--device'), 'cuda', 'worker-gpu: --device cuda (fails rather than falls back to the CPU)');
  assert.ok(
    gpu.deploy?.resources?.reservations?.devices?.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu')),
    'worker-gpu reserves an NVIDIA GPU',
  );
});

test('worker and ingest serve their health port and their health checks ask it; gateway and serve are checked on their --port', () => {
  const { services } = compose(...ALL_PROFILES);
  for (const name of ['worker', 'ingest', 'worker-gpu', 'gateway', 'serve']) {
    const s = services[name]!;
    const { args } = streamsightCall(s);
    const own = ['gateway', 'serve'].includes(name);
    const port = flagValue(args, own ? '--port' : '--health-port');
    assert.ok(port, `${name} has ${own ? '--port' : '--health-port'}`);
    if (!own) assert.equal(flagValue(args, '--health-host'), '0.0.0.0', `${name}: /metrics reachable from other containers`);
    const check = words(s.healthcheck?.test).join(' ');
    assert.match(check, new RegExp(`^CMD node -e .*http://127\\.0\\.0\\.1:${port}/${own ? 'readyz' : 'healthz'}'`), `${name}: ${check}`);
  }
});

const dir = mkdtempSync(join(tmpdir(), 'ss-compose-'));
const children: ChildProcess[] = [];
let redis: TestRedis;

before(async () => {
  redis = await TestRedis.start();
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the worker's and ingest's health checks, as docker-compose.yml writes them, pass against real processes started with the service's own flags", async () => {
  const model = join(dir, 'tiny.onnx');
  const clip = join(dir, 'clip.mp4');
  writeTinyModel(model);
  makeClip(clip, { seconds: 1, size: '160x120', rate: 25 });
  const { services } = compose();
  for (const name of ['worker', 'ingest']) {
    const s = services[name]!;
    const { role, args } = streamsightCall(s);
    const port = String(await freePort());
    const composePort = flagValue(args, '--health-port')!;
    const local = args.map((a, i) => (args[i - 1] === '--health-port' ? port : a.replace('/videos/clip.mp4', clip)));
    const child = spawn(process.execPath, [CLI, role, ...local, '--model', model], {
      cwd: ROOT,
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: `compose${process.pid}${name}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));

    const [kind, ...check] = words(s.healthcheck!.test);
    assert.equal(kind, 'CMD');
    const [file, ...checkArgs] = check.map((a) => a.replace(`127.0.0.1:${composePort}/`, `127.0.0.1:${port}/`));
    const deadline = Date.now() + 60_000;
    let status: number | null = null;
    while (status !== 0) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`${name}: health check never passed (last exit ${status}):\n${stderr}`);
      await new Promise((r) => setTimeout(r, 250));
      status = spawnSync(file === 'node' ? process.execPath : file!, checkArgs, { timeout: 10_000 }).status;
    }
    child.kill('SIGTERM');
  }
});
