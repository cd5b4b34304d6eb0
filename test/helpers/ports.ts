/**
 * TCP ports on 127.0.0.1 for tests that start servers and processes of their
 * own. Test support only.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/**
 * Starts `server` (a net, http or https server) listening on 127.0.0.1, port
 * 0, and answers the port the system chose: the race-free way to give a
 * server of the test's own a port.
 */
export async function listenOnFreePort(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return address.port;
}

/**
 * A port that was free a moment ago: bound on port 0, read, released. For a
 * child process that takes `--port N` (another process could take the port
 * first; the tests accept that). Until someone binds it, connecting to it is
 * refused, so it also serves as "a port where nothing listens".
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnFreePort(server);
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}
