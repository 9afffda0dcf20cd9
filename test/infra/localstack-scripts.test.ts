/**
 * The LocalStack scripts' decisions, against a stand-in HTTP server: no Docker engine runs here, so
 * LocalStack itself cannot. The stand-in answers as LocalStack's free image and a paid one do.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ENV } from '../../functions/shared/environment.ts';
import {
  externalOutputs,
  LocalStackError,
  probeWebSocketSupport,
  scenarioEnvironment,
  waitForLocalStack,
} from '../../localstack/localstack.ts';

/** Starts a stand-in on 127.0.0.1 (random port) that answers `/v2/apis` with `v2Status`. */
async function standIn(v2Status: 200 | 501): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((request, response) => {
    if (request.url === '/_localstack/health') {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          edition: v2Status === 200 ? 'pro' : 'community',
          version: '4.0.0',
          services: { sns: 'available' },
        }),
      );
    } else if (
      request.url === '/v2/apis' &&
      request.headers.authorization?.includes('/apigateway/aws4_request')
    ) {
      response.statusCode = v2Status;
      response.end(
        v2Status === 200
          ? JSON.stringify({
              items: [{ apiId: 'abc123', apiEndpoint: 'ws://localhost:4510', protocolType: 'WEBSOCKET' }],
            })
          : JSON.stringify({
              __type: 'InternalFailure',
              message: "API for service 'apigatewayv2' not yet implemented or pro feature",
            }),
      );
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const CDK_OUTPUTS = {
  PushlineStack: {
    WebSocketUrl: 'wss://abc123.execute-api.us-east-1.amazonaws.com/prod',
    TopicArn: 'arn:aws:sns:us-east-1:000000000000:topic',
    TableName: 'table',
    CallbackUrl: 'https://abc123.execute-api.us-east-1.amazonaws.com/prod',
    RejectedQueueUrl: 'http://127.0.0.1:4566/000000000000/rejected',
    DeadLetterQueueUrl: 'http://127.0.0.1:4566/000000000000/dlq',
    JwtSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:jwt',
  },
};

describe('the LocalStack scripts', () => {
  let free: { server: Server; endpoint: string };
  let paid: { server: Server; endpoint: string };
  before(async () => {
    free = await standIn(501);
    paid = await standIn(200);
  });
  after(async () => {
    for (const { server } of [free, paid]) await new Promise((resolve) => server.close(resolve));
  });

  it('read the edition and version from the health check', async () => {
    const health = await waitForLocalStack(free.endpoint, 2_000);
    assert.deepEqual(health, { edition: 'community', version: '4.0.0', services: { sns: 'available' } });
  });

  it('say how to start LocalStack when nothing answers, within the time given', async () => {
    const { endpoint, server } = await standIn(501);
    await new Promise((resolve) => server.close(resolve));
    const started = Date.now();
    await assert.rejects(waitForLocalStack(endpoint, 1_000), (error: unknown) => {
      return (
        error instanceof LocalStackError &&
        error.code === 'NOT_RUNNING' &&
        /localstack:up/.test(error.message)
      );
    });
    assert.ok(Date.now() - started < 5_000);
  });

  it('report a free image as lacking API Gateway v2, with what it answered', async () => {
    const support = await probeWebSocketSupport(free.endpoint);
    assert.equal(support.available, false);
    assert.match(support.detail, /HTTP 501.*apigatewayv2/);
  });

  it('report an image with API Gateway v2 and the endpoints of its WebSocket APIs', async () => {
    const support = await probeWebSocketSupport(paid.endpoint);
    assert.equal(support.available, true);
    assert.deepEqual(support.apis, [
      { apiId: 'abc123', apiEndpoint: 'ws://localhost:4510', protocolType: 'WEBSOCKET' },
    ]);
  });

  it("use LocalStack's own WebSocket endpoint for the stack's API, and the template's URL otherwise", async () => {
    const served = externalOutputs(CDK_OUTPUTS, paid.endpoint, await probeWebSocketSupport(paid.endpoint));
    assert.equal(served.WebSocketUrl, 'ws://localhost:4510/prod');
    assert.equal(served.AwsEndpointUrl, paid.endpoint);
    assert.equal(served.JwtSecretArn, CDK_OUTPUTS.PushlineStack.JwtSecretArn);
    const unserved = externalOutputs(CDK_OUTPUTS, free.endpoint, await probeWebSocketSupport(free.endpoint));
    assert.equal(unserved.WebSocketUrl, CDK_OUTPUTS.PushlineStack.WebSocketUrl);
  });

  it('name the outputs a deployment lacks', () => {
    const { TopicArn: _topic, ...partial } = CDK_OUTPUTS.PushlineStack;
    assert.throws(
      () =>
        externalOutputs({ PushlineStack: partial }, free.endpoint, {
          available: false,
          detail: '',
          apis: [],
        }),
      /no output TopicArn/,
    );
  });

  it('point the scenarios at LocalStack with the external target, the outputs and the token key', () => {
    const env = scenarioEnvironment({
      endpoint: free.endpoint,
      outputsFile: '/tmp/outputs.json',
      support: { available: false, detail: '', apis: [] },
      jwtSecret: 'k'.repeat(64),
    });
    assert.equal(env.PUSHLINE_TARGET, 'external');
    assert.equal(env.PUSHLINE_WEBSOCKET, 'unavailable');
    assert.equal(env.AWS_ENDPOINT_URL, free.endpoint);
    assert.equal(env.PUSHLINE_OUTPUTS_FILE, '/tmp/outputs.json');
    assert.equal(env[ENV.jwtSecret], 'k'.repeat(64));
    assert.equal(env.AWS_ACCESS_KEY_ID, 'test');
  });
});
