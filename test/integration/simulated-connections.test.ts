import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import WebSocket from 'ws';
import { type Gateway, type SimulatedConnectionStats, startGateway } from '../../emulator/gateway/gateway.ts';

/** An SDK v3 service error. */
type ServiceError = Error & { readonly $metadata: { readonly httpStatusCode?: number } };

/** API Gateway's connection id form: 16 characters of URL-safe base64 ending in `=`. */
const GATEWAY_ID = /^[A-Za-z0-9_-]{15}=$/;

async function errorOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  assert.fail('expected the call to fail');
}

describe('simulated connections (local-only counting mode of the gateway)', () => {
  let gateway: Gateway;
  let client: ApiGatewayManagementApiClient;
  let control: string;

  const register = (body: unknown) =>
    fetch(control, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const stats = async (query = ''): Promise<SimulatedConnectionStats> => {
    const response = await fetch(`${control}${query}`);
    assert.equal(response.status, 200);
    return (await response.json()) as SimulatedConnectionStats;
  };
  const post = (id: string, data: string | Uint8Array = '{"kind":"message"}') =>
    client.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }));

  before(async () => {
    gateway = await startGateway({
      api: { name: 'simulated-api', stage: 'test', routes: {} },
      // No routes: nothing is invoked, a handshake is accepted as the authorizer-less API would.
      invoke: async () => ({ statusCode: 200 }),
      log: () => {},
    });
    control = `http://127.0.0.1:${gateway.port}/@local/simulated-connections`;
    client = new ApiGatewayManagementApiClient({
      endpoint: gateway.callbackUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });

  afterEach(async () => {
    gateway.setFaults({});
    const response = await fetch(control, { method: 'DELETE' });
    assert.equal(response.status, 204);
  });

  after(async () => {
    client.destroy();
    await gateway.close();
  });

  it('accepts posts to ids registered in bulk with 200 and counts them per id', async () => {
    const response = await register({ count: 1_000 });
    assert.equal(response.status, 200);
    const { ids } = (await response.json()) as { ids: string[] };
    assert.equal(ids.length, 1_000);
    assert.equal(new Set(ids).size, 1_000);
    for (const id of ids) assert.match(id, GATEWAY_ID);

    const [first, ...rest] = ids as [string, ...string[]];
    for (const id of rest) {
      const output = await post(id);
      assert.equal(output.$metadata.httpStatusCode, 200);
    }
    for (let i = 0; i < 3; i++) await post(first, new Uint8Array([0xff, 0x00]));

    const summary = await stats();
    assert.equal(summary.connections, 1_000);
    assert.equal(summary.posts, 1_002);
    assert.deepEqual(summary.histogram, { 1: 999, 3: 1 });
    assert.equal(summary.counts, undefined);
    const detailed = await stats('?counts=true');
    assert.equal(detailed.counts?.[first], 3);
    assert.equal(detailed.counts?.[rest[0] as string], 1);
    assert.equal(Object.keys(detailed.counts ?? {}).length, 1_000);
    assert.deepEqual(gateway.simulated.stats().histogram, { 1: 999, 3: 1 });
  });

  it('answers GET and DELETE for a simulated connection as for an open one, then 410 GoneException', async () => {
    const registeredAt = Date.now();
    const [id] = gateway.simulated.create(1) as [string];

    const info = await client.send(new GetConnectionCommand({ ConnectionId: id }));
    assert.ok(info.ConnectedAt instanceof Date);
    assert.ok(Math.abs(info.ConnectedAt.getTime() - registeredAt) < 5_000);
    assert.deepEqual(info.LastActiveAt, info.ConnectedAt);
    assert.equal(info.Identity?.SourceIp, '127.0.0.1');

    const deleted = await client.send(new DeleteConnectionCommand({ ConnectionId: id }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    const gone = await errorOf(post(id));
    assert.equal(gone.name, 'GoneException');
    assert.equal(gone.$metadata.httpStatusCode, 410);
    assert.equal((await stats()).connections, 0);
  });

  it('keeps AWS answers: 413 over the message limit, 410 for an unknown id, injected faults', async () => {
    const [id] = gateway.simulated.create(1) as [string];

    const tooLarge = await errorOf(post(id, new Uint8Array(128 * 1024 + 1)));
    assert.equal(tooLarge.name, 'PayloadTooLargeException');
    assert.equal(tooLarge.$metadata.httpStatusCode, 413);
    const unknown = await errorOf(post('unknownConnId='));
    assert.equal(unknown.name, 'GoneException');
    gateway.setFaults({ errorRate: 1 });
    const throttled = await errorOf(post(id));
    assert.equal(throttled.name, 'LimitExceededException');
    gateway.setFaults({});
    await post(id, new Uint8Array(128 * 1024));

    const summary = await stats();
    assert.equal(summary.posts, 1);
    assert.equal(summary.bytes, 128 * 1024);
  });

  it('registers given ids, refuses malformed requests with 400 and leaves real connections as they are', async () => {
    const socket = new WebSocket(gateway.url);
    const frame = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    try {
      const [real] = gateway.connections().map((connection) => connection.id) as [string];

      const added = await register({ ids: ['sim-a', 'sim/b'] });
      assert.equal(added.status, 200);
      assert.deepEqual(await added.json(), { ids: ['sim-a', 'sim/b'] });
      await post('sim/b');
      assert.deepEqual((await stats('?counts=true')).counts, { 'sim-a': 0, 'sim/b': 1 });

      for (const bad of [
        { count: 0 },
        { count: 200_001 },
        { ids: [] },
        { ids: [''] },
        { ids: [real] },
        'x',
      ]) {
        const refused = await register(bad);
        assert.equal(refused.status, 400, `expected 400 for ${JSON.stringify(bad)}`);
        assert.equal(typeof ((await refused.json()) as { message?: unknown }).message, 'string');
      }
      assert.equal((await fetch(control, { method: 'PUT' })).status, 405);

      await post(real, 'to the real socket');
      assert.equal(await frame, 'to the real socket');
      assert.deepEqual(
        gateway.connections().map((connection) => connection.id),
        [real],
      );
      assert.equal((await stats()).posts, 1);
    } finally {
      socket.terminate();
    }
  });
});
