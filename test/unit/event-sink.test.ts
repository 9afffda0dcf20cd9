import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

/**
 * The events sink against a small HTTP server standing in for SNS: it answers PublishBatch with
 * what each test asks for, so a refusal and an outage can be produced for real on the wire.
 */
let server: Server;
let answer: (body: string) => { status: number; body: string } = () => ({ status: 500, body: '' });
const requests: string[] = [];

before(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push(body);
      const { status, body: text } = answer(body);
      response.writeHead(status, { 'content-type': 'text/xml' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // The sink's SNS client is built at module scope from the standard configuration.
  process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_REGION = 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_MAX_ATTEMPTS = '1';
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const event = (user: string) => ({ event: 'connected' as const, user, connectionId: `c-${user}`, ts: 1 });

/** A sink whose reports are recorded. */
async function recordingSink() {
  const { createEventSink } = await import('../../functions/adapters/event-sink.ts');
  const warnings: string[] = [];
  const dropped: number[] = [];
  const sink = createEventSink('arn:aws:sns:eu-west-1:123456789012:events', {
    warn: (message) => warnings.push(message),
    dropped: (count) => dropped.push(count),
  });
  return { sink, warnings, dropped };
}

describe('the events sink', () => {
  it('counts every event of a batch SNS could not take as dropped, and never throws', async () => {
    answer = () => ({
      status: 500,
      body: '<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>',
    });
    const { sink, warnings, dropped } = await recordingSink();
    await sink.emit(Array.from({ length: 12 }, (_, index) => event(`u${index}`)));
    assert.deepEqual(dropped, [10, 2], 'two PublishBatch requests, each lost whole');
    assert.deepEqual(warnings, ['Could not publish events; dropped', 'Could not publish events; dropped']);
  });

  it('counts only the entries SNS refused in an accepted batch', async () => {
    answer = () => ({
      status: 200,
      body:
        '<PublishBatchResponse><PublishBatchResult><Successful><member><Id>0</Id><MessageId>m0</MessageId></member></Successful>' +
        '<Failed><member><Id>1</Id><Code>InternalError</Code><SenderFault>false</SenderFault></member></Failed>' +
        '</PublishBatchResult></PublishBatchResponse>',
    });
    const { sink, dropped } = await recordingSink();
    await sink.emit([event('a'), event('b')]);
    assert.deepEqual(dropped, [1]);
  });

  it('reports nothing dropped when SNS takes every event', async () => {
    answer = () => ({
      status: 200,
      body:
        '<PublishBatchResponse><PublishBatchResult><Successful><member><Id>0</Id><MessageId>m0</MessageId></member></Successful>' +
        '<Failed></Failed></PublishBatchResult></PublishBatchResponse>',
    });
    const { sink, dropped, warnings } = await recordingSink();
    const before = requests.length;
    await sink.emit([event('a')]);
    assert.deepEqual(dropped, []);
    assert.deepEqual(warnings, []);
    assert.equal(requests.length, before + 1);
    assert.match(requests.at(-1) ?? '', /Action=PublishBatch/);
  });
});
