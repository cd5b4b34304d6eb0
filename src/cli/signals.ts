/**
 * First SIGINT/SIGTERM: ask the running command to stop cleanly (it flushes
 * what is done). A second one: exit at once; ffmpeg children are killed by
 * the ffmpeg module's exit hook.
 */
export function onInterrupt(stop: () => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) {
      process.stderr.write(`\n${signal}: stopping, writing what is finished (again to quit now)\n`);
      stop();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
