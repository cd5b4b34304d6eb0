/**
 * Process entry of the `worker` role: wiring only (the stage code is in src/).
 * `node --import tsx workers/worker.ts [flags]` is `streamsight worker [flags]`.
 */
import { main } from '../src/cli/main.ts';

process.exitCode = await main([process.argv[0]!, process.argv[1]!, 'worker', ...process.argv.slice(2)]);
