import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { type RunningConsole, startConsole } from '../../local/console/server.ts';
import { mintLocalToken } from '../../local/tokens.ts';

describe('the message-center console server', () => {
  let console_: RunningConsole;
  const published: unknown[] = [];
  let failNext: Error | undefined;

  before(async () => {
    console_ = await startConsole({
      port: 0,
      webSocketUrl: 'ws://127.0.0.1:65000/local',
      publish: async (envelope) => {
        if (failNext) {
          const error = failNext;
          failNext = undefined;
          throw error;
        }
        published.push(envelope);
        return { messageId: `m-${published.length}` };
      },
      mintToken: (userId) => mintLocalToken(userId),
    });
  });

  after(async () => {
    await console_.close();
  });

  const post = (path: string, body: unknown, contentType = 'application/json') =>
    fetch(`${console_.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('serves the page, its script, the SDK bundle and the WebSocket URL', async () => {
    const page = await fetch(`${console_.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(
      page.headers.get('content-security-policy') ?? '',
      /connect-src 'self' ws:\/\/127\.0\.0\.1:65000/,
    );
    assert.match(await page.text(), /<main id="main">/);

    const app = await fetch(`${console_.url}/app.js`);
    assert.match(app.headers.get('content-type') ?? '', /javascript/);
    assert.ok((await app.text()).length > 1000);

    const sdk = await (await fetch(`${console_.url}/sdk/pushline-client.js`)).text();
    assert.match(sdk, /export\s*\{/);
    assert.match(sdk, /PushlineClient/);

    assert.deepEqual(await (await fetch(`${console_.url}/config.json`)).json(), {
      webSocketUrl: 'ws://127.0.0.1:65000/local',
    });
    assert.equal((await fetch(`${console_.url}/nothing`)).status, 404);
  });

  it('signs a local token whose subject is the user id', async () => {
    const response = await post('/api/token', { userId: 'alice' });
    assert.equal(response.status, 200);
    const { token } = (await response.json()) as { token: string };
    assert.equal(decodeJwt(token).sub, 'alice');
  });

  it('refuses a token for a missing or malformed user id with a 400 that says why', async () => {
    for (const body of [{}, { userId: '' }, { userId: 'a b' }, { userId: 'x'.repeat(129) }]) {
      const response = await post('/api/token', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const answer = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(answer.error.code, 'INVALID_USER');
    }
  });

  it('publishes an envelope v1 built from the form fields', async () => {
    const response = await post('/api/publish', {
      to: 'alice, bob alice',
      type: ' note ',
      source: 'console',
      data: { text: 'hi' },
      persist: true,
    });
    assert.equal(response.status, 202);
    assert.deepEqual(await response.json(), { messageId: `m-${published.length}` });
    assert.deepEqual(published.at(-1), {
      v: 1,
      to: { users: ['alice', 'bob'] },
      type: 'note',
      source: 'console',
      data: { text: 'hi' },
      persist: true,
    });
  });

  it('accepts `to` as a list or as {users} and any JSON value as data', async () => {
    assert.equal((await post('/api/publish', { to: ['carol'], type: 't', data: null })).status, 202);
    assert.deepEqual(published.at(-1), { v: 1, to: { users: ['carol'] }, type: 't', data: null });
    assert.equal(
      (await post('/api/publish', { to: { users: ['dan'] }, type: 't', data: 3, ttl: 60 })).status,
      202,
    );
    assert.deepEqual(published.at(-1), { v: 1, to: { users: ['dan'] }, type: 't', data: 3, ttl: 60 });
  });

  it('answers invalid publish requests with a 400 naming the problem, and publishes nothing', async () => {
    const count = published.length;
    const cases: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      [[1, 2], /JSON object/],
      [{ type: 't', data: 1 }, /`to`/],
      [{ to: ' , ', type: 't', data: 1 }, /`to`/],
      [{ to: 'a b/c', type: 't', data: 1 }, /not a valid user id/],
      [{ to: 'alice', data: 1 }, /^type: /],
      [{ to: 'alice', type: 't' }, /data is required/],
      [{ to: 'alice', type: 't', data: 1, persist: 'yes' }, /^persist: /],
      [{ to: 'alice', type: 't', data: 1, ttl: -5 }, /^ttl: /],
      [{ to: 'alice', type: 't', data: 1, colour: 'red' }, /colour/],
    ];
    for (const [body, reason] of cases) {
      const response = await post('/api/publish', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const answer = (await response.json()) as { error: { message: string } };
      assert.match(answer.error.message, reason);
    }
    assert.equal(published.length, count);
  });

  it("passes the publisher's validation error on as a 400 and other failures as a 502", async () => {
    failNext = Object.assign(new Error('data is over 128 KB'), { code: 'INVALID_MESSAGE' });
    const invalid = await post('/api/publish', { to: 'alice', type: 't', data: 1 });
    assert.equal(invalid.status, 400);
    assert.match(((await invalid.json()) as { error: { message: string } }).error.message, /128 KB/);

    failNext = new Error('connect ECONNREFUSED');
    assert.equal((await post('/api/publish', { to: 'alice', type: 't', data: 1 })).status, 502);
  });

  it('refuses bodies that are not JSON, so other sites cannot post to it without a preflight', async () => {
    const response = await post(
      '/api/publish',
      'to=alice&type=t&data=1',
      'application/x-www-form-urlencoded',
    );
    assert.equal(response.status, 415);
    assert.equal((await fetch(`${console_.url}/api/publish`)).status, 405);
  });
});
