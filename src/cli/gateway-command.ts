import { createServer } from 'node:http';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { listenOn, wsGatewaySettings } from '../gateway/server-settings.ts';
import type { StreamInfo } from '../contracts/results.ts';
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
    .description('distributed: read the results stream and serve it over WebSocket (/ws), HTTP (/api, /metrics) and the dashboard; until SIGINT/SIGTERM')
    .option('--redis <url>', 'the queue\'s Redis (also REDIS_URL)')
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
    if (url === undefined) throw new UsageError('gateway needs the queue\'s Redis: --redis URL or REDIS_URL');
    const logger = createLogger({ level: config.log.level });

    const [{ authorizeUpgrade }, { serveDashboardAsset }, { createHttpHandler }, { WsGateway }, { Metrics }, { RedisLinks }, { ResultReader }, { ResultFeed }] = await Promise.all([
      import('../gateway/auth.ts'), import('../gateway/dashboard-assets.ts'), import('../gateway/http-api.ts'), import('../gateway/ws-gateway.ts'),
      import('../shared/metrics.ts'), import('../transport/redis-links.ts'), import('../transport/result-stream.ts'), import('../transport/result-feed.ts'),
    ]);
    const links = await RedisLinks.open({ ...config.redis, url }, 'worker', `gateway-${process.pid}`, logger);
    const metrics = new Metrics();
    const http = createServer();
    const gateway = new WsGateway({
      server: http, ...wsGatewaySettings(config.server),
      listStreams: (): StreamInfo[] => feed.listStreams(), logger: logger.child({ component: 'gateway' }), metrics,
    });
    const feed = new ResultFeed({ sink: gateway, events: config.events, metrics, redisReady: () => links.ready });
    http.on('request', createHttpHandler({
      backend: feed,
      authorize: (req) => authorizeUpgrade(req.headers, req.url, { token: config.server.token }).ok,
      serveAsset: serveDashboardAsset,
      logger: logger.child({ component: 'http' }),
    }));
    let port: number;
    try {
      port = await listenOn(http, config.server);
    } catch (err) {
      await links.close();
      throw err;
    }
    // Only what arrives from now on: the replay ring fills as results come.
    const reader = new ResultReader({ client: links.queue, streamKey: links.names.resultsStream, from: '$', onEntry: (e) => feed.onEntry(e), logger });
    process.stderr.write(`streamsight gateway: http://${config.server.host}:${port}/ · ws://${config.server.host}:${port}/ws · results from ${links.names.resultsStream}\n`);

    const signal = await waitForStopSignal();
    logger.info({ signal }, 'gateway stopping');
    await reader.close();
    await gateway.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await links.close();
    ctx.setExitCode(0);
  });
}
