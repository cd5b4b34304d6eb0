/**
 * Process entry of the `gateway` role: wiring only (the stage code is in src/).
 * `node --import tsx workers/gateway.ts [flags]` is `streamsight gateway [flags]`.
 */
import { main } from '../src/cli/main.ts';

process.exitCode = await main([process.argv[0]!, process.argv[1]!, 'gateway', ...process.argv.slice(2)]);
