/**
 * The gateway under `npm run bench:gateway`, in a process of its own (as under `npm start`, where no
 * client shares its event loop). Started by bench/gateway.ts with an IPC channel: it answers
 * `connections` (the ids of the open connections), `cpu` (this process's CPU time so far) and
 * `close`. It listens on 127.0.0.1 only. The API has no authorizer and no routes: the benchmark
 * measures the management API and the frames it sends, not Lambda.
 */
import { startGateway } from '../emulator/gateway/gateway.ts';

/** What the parent asks. */
export type GatewayServerRequest = { readonly id: number; readonly op: 'connections' | 'cpu' | 'close' };

/** What this process sends: `ready` once it listens, then one answer per request. */
export type GatewayServerMessage =
  | { readonly op: 'ready'; readonly url: string; readonly callbackUrl: string }
  | { readonly op: 'answer'; readonly id: number; readonly value: unknown };

const send = (message: GatewayServerMessage) => process.send?.(message);

if (process.send === undefined) {
  console.error('bench/gateway-server.ts is started by bench/gateway.ts (it needs an IPC channel).');
  process.exit(2);
}

const gateway = await startGateway({
  api: { name: 'pushline-bench', stage: 'bench', routes: {} },
  invoke: async () => ({ statusCode: 200 }),
  host: '127.0.0.1',
  log: (line) => {
    if (!/\] (dis)?connected /.test(line)) process.stderr.write(`${line}\n`);
  },
});

process.on('message', async (request: GatewayServerRequest) => {
  switch (request.op) {
    case 'connections':
      send({ op: 'answer', id: request.id, value: gateway.connections().map((c) => c.id) });
      return;
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ op: 'answer', id: request.id, value: (user + system) / 1000 });
      return;
    }
    case 'close':
      await gateway.close();
      send({ op: 'answer', id: request.id, value: null });
      process.disconnect();
      return;
  }
});
// The parent gone (even killed) means nothing is left to serve.
process.on('disconnect', () => {
  void gateway.close().finally(() => process.exit(0));
});

send({ op: 'ready', url: gateway.url, callbackUrl: gateway.callbackUrl });
