/**
 * Process entry of the `ingest` role: wiring only (the stage code is in src/).
 * `node --import tsx workers/ingest.ts [flags]` is `streamsight ingest [flags]`.
 */
import { main } from '../src/cli/main.ts';

process.exitCode = await main([process.argv[0]!, process.argv[1]!, 'ingest', ...process.argv.slice(2)]);
