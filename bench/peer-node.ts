/**
 * One Socket.IO 4 server node of the peer benchmark (bench/peer.ts starts it as a child process):
 * the seeds' design, where each node holds some of the sockets and the Redis adapter hands every
 * node every message, and each node pushes to the sockets it holds.
 *
 * A client names its user in the handshake's `auth.user` and is joined to a room of that id. As in
 * the seeds, nothing verifies that name: the benchmark spares the peer the cost of checking a token.
 *
 * IPC with the parent: it sends `{ type: 'ready', port }` once listening; it answers
 * `{ type: 'cpu', id }` with `{ type: 'cpu', id, cpuUs }` (this process's user + system CPU time,
 * process.cpuUsage) and `{ type: 'stop' }` by closing and exiting. It exits when the parent goes.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

/** Messages the parent sends. */
export type NodeCommand = { readonly type: 'cpu'; readonly id: number } | { readonly type: 'stop' };
/** Messages this node sends. */
export type NodeReport =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'cpu'; readonly id: number; readonly cpuUs: number };

const redisUrl = process.env.PEER_REDIS_URL;
if (redisUrl === undefined || process.send === undefined) {
  throw new Error('bench/peer-node.ts runs as a child of bench/peer.ts (PEER_REDIS_URL and an IPC channel)');
}
const send = (report: NodeReport) => process.send?.(report);

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const http = createServer();
// WebSocket only (no long-polling first), as a production deployment behind a load balancer runs it.
const io = new Server(http, {
  adapter: createAdapter(pubClient, subClient),
  transports: ['websocket'],
  serveClient: false,
});
io.on('connection', (socket) => {
  const user: unknown = socket.handshake.auth.user;
  if (typeof user === 'string' && user.length > 0) void socket.join(user);
  else socket.disconnect(true);
});

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await new Promise<void>((resolve) => {
      io.close(() => resolve());
      // close() waits for every socket; the parent gives up on this process soon enough anyway.
      setTimeout(resolve, 2_000).unref();
    });
    await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  }
  process.exit(code);
}

process.on('message', (command: NodeCommand) => {
  if (command.type === 'cpu') {
    const usage = process.cpuUsage();
    send({ type: 'cpu', id: command.id, cpuUs: usage.user + usage.system });
  } else if (command.type === 'stop') void stop(0);
});
// The parent died or closed the channel: nothing is left to serve.
process.on('disconnect', () => void stop(0));

http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  send({ type: 'ready', port: address.port });
});
