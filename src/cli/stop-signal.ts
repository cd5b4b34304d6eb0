/** Resolves with the first SIGINT/SIGTERM; a second one exits at once (130). */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let count = 0;
    const handler = (signal: NodeJS.Signals): void => {
      count++;
      if (count === 1) resolve(signal);
      else process.exit(130);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
