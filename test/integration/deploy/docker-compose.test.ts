/**
 * docker-compose.yml, checked without an engine (Docker does not run here):
 * Debian's docker-compose validates and resolves it, and what it resolves
 * must be a deployment of the distributed mode that works: Redis as BullMQ
 * needs it, every role health-checked and restarted, workers scalable, and
 * each role's command line one that `streamsight` accepts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { CLI, ROOT } from '../../helpers/cli.ts';

interface Service {
  command?: string[] | string;
  healthcheck?: { test?: string[] | string };
  restart?: string;
  depends_on?: Record<string, { condition?: string }>;
  environment?: Record<string, string>;
  ports?: unknown[];
  container_name?: string;
  profiles?: string[];
}

function compose(...args: string[]): { services: Record<string, Service> } {
  const r = spawnSync('docker-compose', [...args, 'config'], { cwd: ROOT, encoding: 'utf8' });
  if (r.error) assert.fail(`docker-compose is not installed (.ci/run installs Debian's, --no-install-recommends): ${r.error.message}`);
  assert.equal(r.status, 0, `docker-compose ${args.join(' ')} config: ${r.stderr}`);
  return parse(r.stdout) as { services: Record<string, Service> };
}

/** The `streamsight ROLE --flags` part of a service's command (plain or inside `sh -c`). */
function streamsightCall(service: Service): { role: string; flags: string[] } {
  const line = Array.isArray(service.command) ? service.command.join(' ') : service.command ?? '';
  const m = /bin\/streamsight\.js\s+(\S+)([^;&|]*)/.exec(line);
  assert.ok(m, `no streamsight call in: ${line}`);
  return { role: m[1]!, flags: [...m[2]!.matchAll(/(--[a-z-]+)/g)].map((f) => f[1]!) };
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

test('the serve and tools profiles validate too, and every role\'s command line uses flags its `--help` lists', () => {
  const all = { ...compose().services, ...compose('--profile', 'serve', '--profile', 'tools').services };
  assert.ok(all.serve && all.analyze, 'serve and analyze are behind profiles');
  for (const [name, s] of Object.entries(all)) {
    if (name === 'redis') continue;
    const { role, flags } = streamsightCall(s);
    const help = execFileSync(process.execPath, [CLI, role, '--help'], { cwd: ROOT, encoding: 'utf8' });
    for (const flag of flags) assert.match(help, new RegExp(`${flag}(?![a-z-])`), `${name}: \`streamsight ${role} --help\` has no ${flag}`);
  }
});
