import { InvalidArgumentError, Option } from 'commander';
import type { Config } from '../config/schema.ts';
import type { HealthServer, Readiness } from '../gateway/health-server.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';

/** `--health-port` and `--health-host` of the roles without a gateway (`worker`, `ingest`). */
export interface HealthFlags {
  healthPort?: number;
  healthHost?: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--health-port must be a port, 0-65535 (0: any free one), got "${value}"`);
  return n;
}

export function healthOptions(): Option[] {
  return [
    new Option(
      '--health-port <port>',
      'serve GET /healthz (200 ready, 503 Redis unreachable) and /metrics (Prometheus) on this port [default: none]',
    ).argParser(port),
    new Option('--health-host <addr>', 'address of the health port (0.0.0.0 lets Prometheus scrape it) [default: 127.0.0.1]'),
  ];
}

/**
 * Starts the health endpoint when `--health-port` was given, and says where
 * on stderr (`<role>: health and metrics on http://host:port`); undefined
 * otherwise. The caller closes it last.
 */
export async function startHealth(
  role: string,
  flags: HealthFlags,
  deps: {
    readiness: () => Readiness;
    metrics: Metrics;
    server: Config['server'];
    logger: Logger;
  },
): Promise<HealthServer | undefined> {
  if (flags.healthPort === undefined) return undefined;
  const { HealthServer } = await import('../gateway/health-server.ts');
  const health = await HealthServer.listen({
    host: flags.healthHost ?? '127.0.0.1',
    port: flags.healthPort,
    readiness: deps.readiness,
    metrics: deps.metrics,
    limits: deps.server,
    logger: deps.logger.child({ component: 'health' }),
  });
  process.stderr.write(`streamsight ${role}: health and metrics on ${health.url}/healthz, ${health.url}/metrics\n`);
  return health;
}
