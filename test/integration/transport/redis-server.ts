import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../helpers/ports.ts';
import { once } from 'node:events';
import { Redis } from 'ioredis';

/**
 * A redis-server of the test's own, on a free port, keeping nothing on disk,
 * so the test may kill and restart it. `stop()` kills it (SIGKILL: as a crash
 * would), `start()` starts it again on the same port, empty.
 */
export class TestRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  static async start(extraArgs: string[] = []): Promise<TestRedis> {
    const r = new TestRedis(await freePort(), extraArgs);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', ...this.extraArgs],
      { stdio: 'ignore' },
    );
    this.child = child;
    // Ready when it answers PING.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch (err) {
        probe.disconnect();
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** SIGKILL, as a crash: whatever it held is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** A plain client for the test's own inspection (INFO, SCAN, ...). */
  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    return c;
  }
}

/** used_memory from INFO memory, bytes. */
export async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}
