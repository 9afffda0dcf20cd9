import assert from 'node:assert/strict';

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { type ConnectionPoster, createConnectionPoster } from '../../functions/adapters/management-api.ts';
import { createHttpTransport } from '../../functions/adapters/management-api-http.ts';
import { createSdkTransport } from '../../functions/adapters/management-api-sdk.ts';
import { ENV } from '../../functions/shared/environment.ts';
import { MANAGEMENT_CLIENTS } from '../../functions/shared/management-client.ts';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { NodeSha256 } from '../support/sha256.ts';
import { listUserConnectionsFor } from '../support/table.ts';
import { startTarget, type Target, unique } from '../support/target.ts';
import { eventually, type TestSocket } from '../support/ws-client.ts';

// These scenarios choose the functions' management API client and inject gateway faults: local stack only.
const LOCAL_ONLY = process.env.PUSHLINE_TARGET === 'external' ? 'needs the local stack' : false;

const TRANSPORT_TIMEOUTS = { connectionTimeoutMs: 3_000, requestTimeoutMs: 300 };

for (const client of MANAGEMENT_CLIENTS) {
  describe(`the management API through the ${client} client`, { skip: LOCAL_ONLY }, () => {
    let target: Target;
    let poster: ConnectionPoster;
    const sockets: TestSocket[] = [];
    /** Connects as the user; answers the socket and the id the gateway gave its connection. */
    const connect = async (userId: string) => {
      const before = new Set(target.local?.connectionIds());
      const socket = await target.connect(userId);
      sockets.push(socket);
      const id = target.local?.connectionIds().find((candidate) => !before.has(candidate));
      assert.ok(id, 'the gateway holds the new connection');
      return { socket, id };
    };

    before(async () => {
      target = await startTarget({ managementClient: client });
      // The test process posts too, as the functions do: the region and (local) keys they sign with.
      process.env.AWS_REGION ??= target.outputs.Region;
      process.env.AWS_ACCESS_KEY_ID ??= 'local';
      process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
      poster = createConnectionPoster(target.outputs.CallbackUrl, { maxSockets: 4, client });
    });
    after(async () => {
      target.local?.setFaults({});
      await Promise.all(sockets.map((socket) => socket.close()));
      await target.stop();
    });

    it(`runs the functions that post with ${ENV.managementClient}=${client}`, () => {
      for (const name of ['deliver', 'fanout', 'message']) {
        const fn = target.local?.topology.functions.find((candidate) => candidate.name === name);
        assert.equal(fn?.environment?.[ENV.managementClient], client, name);
      }
    });

    it('delivers a published message to every device of the user', async () => {
      const ann = unique('ann');
      const devices = await Promise.all([connect(ann), connect(ann)]);
      await target.publish({ v: 1, to: { users: [ann] }, type: 'greeting', data: { client } });
      for (const { socket } of devices) {
        const frame = await socket.next((f) => f.kind === 'message');
        assert.deepEqual(frame.data, { client });
      }
    });

    it('deletes exactly the stale connection when the gateway answers 410, and delivers to the live one', async () => {
      const bob = unique('bob');
      const live = await connect(bob);
      const staleKey = {
        [TABLE_SCHEMA.partitionKey]: KEY.user(bob),
        [TABLE_SCHEMA.sortKey]: KEY.connection('stale-connection-id'),
      };
      await target.dynamo.send(
        new PutCommand({
          TableName: target.outputs.TableName,
          Item: {
            ...staleKey,
            userId: bob,
            connectionId: 'stale-connection-id',
            // Well past any $connect, so a 410 means gone.
            connectedAt: Date.now() - 5 * 60_000,
            expiresAt: Math.floor(Date.now() / 1000) + 3600,
          },
        }),
      );
      await target.publish({ v: 1, to: { users: [bob] }, type: 'greeting', data: 'hi' });
      await live.socket.next((f) => f.kind === 'message');
      await eventually(
        async () =>
          (await target.dynamo.send(new GetCommand({ TableName: target.outputs.TableName, Key: staleKey })))
            .Item === undefined,
        5000,
        'the stale row to be deleted',
      );
      assert.deepEqual(await listUserConnectionsFor(target, bob), [live.id]);
    });

    it('posts a frame to a live connection and answers gone for an unknown one', async () => {
      const { socket, id } = await connect(unique('cid'));
      assert.equal(await poster.post(id, '{"kind":"direct","n":1}'), 'delivered');
      assert.equal((await socket.next((f) => f.kind === 'direct')).n, 1);
      assert.equal(await poster.post('AAAAAAAAAAAAAAA=', 'x'), 'gone');
    });

    it('throws PayloadTooLargeException for a frame over 128 KB, without retrying', async () => {
      const { id } = await connect(unique('dan'));
      await assert.rejects(
        poster.post(id, 'x'.repeat(129 * 1024)),
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(error.name, 'PayloadTooLargeException');
          assert.equal(error.$metadata?.httpStatusCode, 413);
          return true;
        },
      );
    });

    it('retries throttling and 5xx answers, then throws LimitExceededException or InternalServerErrorException', async () => {
      const { id } = await connect(unique('eve'));
      try {
        target.local?.setFaults({ errorRate: 1, errorStatus: 429 });
        await assert.rejects(poster.post(id, 'x'), { name: 'LimitExceededException' });
        target.local?.setFaults({ errorRate: 1, errorStatus: 500 });
        await assert.rejects(poster.post(id, 'x'), { name: 'InternalServerErrorException' });
      } finally {
        target.local?.setFaults({});
      }
      assert.equal(await poster.post(id, '{"kind":"after-faults"}'), 'delivered');
    });

    it('fails an attempt the gateway does not answer in time with a TimeoutError, which the poster retries', async () => {
      const { id } = await connect(unique('fay'));
      const options = { callbackUrl: target.outputs.CallbackUrl, maxSockets: 2, ...TRANSPORT_TIMEOUTS };
      const transport = client === 'http' ? createHttpTransport(options) : createSdkTransport(options);
      try {
        target.local?.setFaults({ latencyMs: 1_000 });
        const began = Date.now();
        await assert.rejects(transport.postToConnection(id, 'slow'), { name: 'TimeoutError' });
        assert.ok(Date.now() - began < 900, 'the attempt ended at its timeout, not at the answer');
      } finally {
        target.local?.setFaults({});
      }
    });

    it('closes a connection on disconnect, and takes a disconnect of a gone one as done', async () => {
      const { socket, id } = await connect(unique('gus'));
      await poster.disconnect(id);
      assert.equal((await socket.closed).code, 1000);
      await poster.disconnect(id);
    });
  });
}

describe('the http client’s requests on the wire', () => {
  const credentials = { accessKeyId: 'AKIDWIRE', secretAccessKey: 'wire-secret', sessionToken: 'wire-token' };
  const received: { method: string; url: string; authorization: string; expected: string; body: string }[] =
    [];
  let server: Server;
  let callbackUrl: string;

  /** What @smithy/signature-v4 signs for the request as the server received it. */
  async function expectedAuthorization(req: IncomingMessage, body: string): Promise<string> {
    const headers = req.headers as Record<string, string>;
    const signer = new SignatureV4({
      service: 'execute-api',
      region: 'eu-west-1',
      credentials,
      sha256: NodeSha256,
    });
    const signedNames = /SignedHeaders=([^,]+)/.exec(headers.authorization ?? '')?.[1]?.split(';') ?? [];
    const signed = await signer.sign(
      {
        method: req.method ?? '',
        protocol: 'http:',
        hostname: headers.host ?? '',
        path: req.url ?? '',
        query: {},
        headers: Object.fromEntries(
          signedNames.filter((name) => name !== 'x-amz-date').map((name) => [name, headers[name] ?? '']),
        ),
        body,
      },
      { signingDate: parseAmzDate(headers['x-amz-date'] ?? '') },
    );
    return String(signed.headers.authorization);
  }

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          authorization: req.headers.authorization ?? '',
          expected: await expectedAuthorization(req, body),
          body,
        });
        res.writeHead(req.method === 'DELETE' ? 204 : 200);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    callbackUrl = `http://127.0.0.1:${port}/prod`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends POST and DELETE to /{stage}/@connections/{encoded id}, signed as the SDK’s signer signs them', async () => {
    const transport = createHttpTransport(
      { callbackUrl, maxSockets: 2, ...TRANSPORT_TIMEOUTS },
      { env: { AWS_REGION: 'eu-west-1' }, credentials: async () => credentials },
    );
    await transport.postToConnection("R0oX/Ad+fD0k w'CH6w=", '{"kind":"message","data":"héllo"}');
    await transport.deleteConnection('R0oXAdfD0kwCH6w=');

    assert.equal(received.length, 2);
    const [post, del] = received;
    assert.equal(post?.method, 'POST');
    assert.equal(post?.url, '/prod/@connections/R0oX%2FAd%2BfD0k%20w%27CH6w%3D');
    assert.equal(post?.body, '{"kind":"message","data":"héllo"}');
    assert.equal(post?.authorization, post?.expected);
    assert.equal(del?.method, 'DELETE');
    assert.equal(del?.url, '/prod/@connections/R0oXAdfD0kwCH6w%3D');
    assert.equal(del?.authorization, del?.expected);
  });
});

function parseAmzDate(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  assert.ok(m, `x-amz-date ${text}`);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}
