import { Command, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { CommandContext } from './context.ts';
import { nonNegativeInt } from './options.ts';
import { waitForStopSignal } from './stop-signal.ts';

interface GatewayFlags {
  redis?: string;
  port?: number;
  host?: string;
  token?: string;
  config?: string;
  logLevel?: string;
}

export function gatewayCommand(ctx: CommandContext): Command {
  const cmd = new Command('gateway')
    .description(
      'distributed: read the results stream and serve it over WebSocket (/ws), HTTP (/api, /metrics) and the dashboard; until SIGINT/SIGTERM. Read only: sources are added with `serve --redis` or `ingest`',
    )
    .option('--redis <url>', "the queue's Redis (also REDIS_URL)")
    .addOption(new Option('--port <n>', 'HTTP and WebSocket port [default: 8080]').argParser(nonNegativeInt('--port')))
    .option('--host <addr>', 'address to listen on [default: 127.0.0.1]')
    .option('--token <token>', 'require this token from WebSocket clients')
    .option('--config <file>', 'YAML config file [default: config/default.yaml]')
    .addOption(new Option('--log-level <level>', 'log level on stderr [default: info]').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']));

  return cmd.action(async (flags: GatewayFlags) => {
    const settings: Record<string, unknown> = {};
    const server = Object.fromEntries(Object.entries({ port: flags.port, host: flags.host, token: flags.token }).filter(([, v]) => v !== undefined));
    if (Object.keys(server).length > 0) settings.server = server;
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    if (flags.logLevel !== undefined) settings.log = { level: flags.logLevel };
    const config = loadConfig({ file: flags.config, flags: settings });
    const url = config.redis.url;
    if (url === undefined) throw new UsageError("gateway needs the queue's Redis: --redis URL or REDIS_URL");
    const logger = createLogger({ level: config.log.level, secrets: config.server.token === undefined ? [] : [config.server.token] });

    const [{ Metrics }, { RedisLinks }, { openResultGateway }] = await Promise.all([
      import('../shared/metrics.ts'),
      import('../transport/redis-links.ts'),
      import('../transport/result-gateway.ts'),
    ]);
    const links = await RedisLinks.open({ ...config.redis, url }, 'worker', `gateway-${process.pid}`, logger);
    let gateway;
    try {
      gateway = await openResultGateway({ server: config.server, events: config.events, links, logger, metrics: new Metrics() });
    } catch (err) {
      await links.close();
      throw err;
    }
    process.stderr.write(
      `streamsight gateway: http://${config.server.host}:${gateway.port}/ · ws://${config.server.host}:${gateway.port}/ws · results from ${links.names.resultsStream}\n`,
    );

    const signal = await waitForStopSignal();
    logger.info({ signal }, 'gateway stopping');
    await gateway.close();
    await links.close();
    ctx.setExitCode(0);
  });
}
