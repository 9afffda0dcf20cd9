import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PayloadTooLargeException,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { createCredentialSource, renewing } from '../../functions/adapters/aws-credentials.ts';
import {
  isRetryable,
  type ManagementTransport,
  posterOver,
  type RetryPolicy,
} from '../../functions/adapters/management-api.ts';
import {
  cleanErrorName,
  createHttpTransport,
  errorOf,
  ManagementApiError,
  ManagementApiTimeoutError,
} from '../../functions/adapters/management-api-http.ts';
import type { AwsCredentials } from '../../functions/adapters/sigv4.ts';
import { ConfigError } from '../../functions/shared/errors.ts';

const answer = (status: number, headers: Record<string, string>, body: string) =>
  errorOf(status, { headers }, body);

const NO_WAIT: RetryPolicy = { attempts: 4, baseDelayMs: 0, maxDelayMs: 0 };

/** A transport that fails with the given errors in turn, then succeeds; counts its calls. */
function failingTransport(...errors: unknown[]): ManagementTransport & { calls: number } {
  const transport = {
    calls: 0,
    async postToConnection() {
      const error = errors[transport.calls++];
      if (error !== undefined) throw error;
    },
    async deleteConnection() {
      const error = errors[transport.calls++];
      if (error !== undefined) throw error;
    },
  };
  return transport;
}

const sdkError = (
  Ctor: new (options: { message: string; $metadata: { httpStatusCode: number } }) => Error,
  status: number,
) =>
  Object.assign(new Ctor({ message: 'm', $metadata: { httpStatusCode: status } }), {
    $metadata: { httpStatusCode: status },
  });

describe('the signed HTTP transport names error answers as the SDK does', () => {
  it('takes the name from the x-amzn-ErrorType header', () => {
    const error = answer(
      410,
      { 'x-amzn-errortype': 'GoneException', 'x-amzn-requestid': 'r-1' },
      '{"message":null}',
    );
    assert.ok(error instanceof ManagementApiError);
    assert.equal(error.name, 'GoneException');
    assert.equal(error.$metadata.httpStatusCode, 410);
    assert.equal(error.$metadata.requestId, 'r-1');
    assert.equal(error.$fault, 'client');
  });

  it('cleans a namespace and a suffix from the name, as the SDK’s sanitizeErrorCode does', () => {
    assert.equal(
      cleanErrorName('com.amazonaws.apigatewaymanagementapi#LimitExceededException'),
      'LimitExceededException',
    );
    assert.equal(
      cleanErrorName('ForbiddenException:http://internal.amazon.com/coral/'),
      'ForbiddenException',
    );
    assert.equal(cleanErrorName('PayloadTooLargeException,Other'), 'PayloadTooLargeException');
  });

  it('falls back to the body’s code, then its __type, then Unknown', () => {
    assert.equal(
      answer(413, {}, '{"Code":"PayloadTooLargeException","message":"too big"}').name,
      'PayloadTooLargeException',
    );
    assert.equal(answer(429, {}, '{"__type":"aws#LimitExceededException"}').name, 'LimitExceededException');
    // The SDK's name for an answer that names no error; real API Gateway answers always do.
    assert.equal(answer(502, {}, '<html>Bad Gateway</html>').name, 'Unknown');
  });

  it('keeps the body’s message, or says the status when there is none', () => {
    assert.equal(
      answer(413, { 'x-amzn-errortype': 'PayloadTooLargeException' }, '{"message":"Message too long"}')
        .message,
      'Message too long',
    );
    assert.equal(
      answer(403, { 'x-amzn-errortype': 'ForbiddenException' }, '{"Message":"Forbidden"}').message,
      'Forbidden',
    );
    assert.equal(
      answer(410, { 'x-amzn-errortype': 'GoneException' }, '{"message":null}').message,
      'HTTP 410',
    );
  });

  it('marks 5xx answers as server faults', () => {
    assert.equal(answer(503, { 'x-amzn-errortype': 'ServiceUnavailableException' }, '').$fault, 'server');
  });

  it('retries exactly the answers the SDK client’s errors are retried for', () => {
    const pairs: [unknown, ManagementApiError][] = [
      [sdkError(GoneException, 410), answer(410, { 'x-amzn-errortype': 'GoneException' }, '')],
      [
        sdkError(LimitExceededException, 429),
        answer(429, { 'x-amzn-errortype': 'LimitExceededException' }, ''),
      ],
      [
        sdkError(PayloadTooLargeException, 413),
        answer(413, { 'x-amzn-errortype': 'PayloadTooLargeException' }, ''),
      ],
      [sdkError(ForbiddenException, 403), answer(403, { 'x-amzn-errortype': 'ForbiddenException' }, '')],
    ];
    for (const [fromSdk, fromHttp] of pairs) {
      assert.equal(fromHttp.name, (fromSdk as Error).name);
      assert.equal(isRetryable(fromHttp), isRetryable(fromSdk), fromHttp.name);
    }
    assert.equal(isRetryable(answer(500, { 'x-amzn-errortype': 'InternalServerErrorException' }, '')), true);
    assert.equal(isRetryable(answer(504, {}, '')), true);
    assert.equal(isRetryable(new ManagementApiTimeoutError('no answer')), true);
    assert.equal(isRetryable(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), true);
  });
});

describe('the poster’s rules over a transport', () => {
  it('answers gone for GoneException without retrying', async () => {
    const transport = failingTransport(answer(410, { 'x-amzn-errortype': 'GoneException' }, ''));
    assert.equal(await posterOver(transport, NO_WAIT).post('c', 'x'), 'gone');
    assert.equal(transport.calls, 1);
  });

  it('retries throttling and 5xx answers and delivers once one succeeds', async () => {
    const transport = failingTransport(
      answer(429, { 'x-amzn-errortype': 'LimitExceededException' }, ''),
      answer(500, { 'x-amzn-errortype': 'InternalServerErrorException' }, ''),
      new ManagementApiTimeoutError('no answer'),
    );
    assert.equal(await posterOver(transport, NO_WAIT).post('c', 'x'), 'delivered');
    assert.equal(transport.calls, 4);
  });

  it('throws the last throttling error once the attempts are spent', async () => {
    const throttled = () => answer(429, { 'x-amzn-errortype': 'LimitExceededException' }, '');
    const transport = failingTransport(throttled(), throttled(), throttled(), throttled(), throttled());
    await assert.rejects(posterOver(transport, NO_WAIT).post('c', 'x'), { name: 'LimitExceededException' });
    assert.equal(transport.calls, 4);
  });

  it('throws PayloadTooLargeException and ForbiddenException at once, never retried', async () => {
    for (const [status, name] of [
      [413, 'PayloadTooLargeException'],
      [403, 'ForbiddenException'],
    ] as const) {
      const transport = failingTransport(answer(status, { 'x-amzn-errortype': name }, ''));
      await assert.rejects(posterOver(transport, NO_WAIT).post('c', 'x'), { name });
      assert.equal(transport.calls, 1);
    }
  });

  it('treats a disconnect of a connection already gone as done', async () => {
    const transport = failingTransport(answer(410, { 'x-amzn-errortype': 'GoneException' }, ''));
    await posterOver(transport, NO_WAIT).disconnect('c');
    const forbidden = failingTransport(answer(403, { 'x-amzn-errortype': 'ForbiddenException' }, ''));
    await assert.rejects(posterOver(forbidden, NO_WAIT).disconnect('c'), { name: 'ForbiddenException' });
  });
});

describe('the signed HTTP transport’s settings', () => {
  const options = { maxSockets: 1, connectionTimeoutMs: 1000, requestTimeoutMs: 1000 };
  const credentials = async () => ({ accessKeyId: 'a', secretAccessKey: 's' });

  it('takes the region from an execute-api host when AWS_REGION is not set', () => {
    assert.doesNotThrow(() =>
      createHttpTransport(
        { ...options, callbackUrl: 'https://abc.execute-api.ap-southeast-2.amazonaws.com/prod' },
        { env: {}, credentials },
      ),
    );
  });

  it('fails the cold start when no region is known or the URL is not one', () => {
    assert.throws(
      () =>
        createHttpTransport(
          { ...options, callbackUrl: 'https://ws.example.com/prod' },
          { env: {}, credentials },
        ),
      ConfigError,
    );
    for (const callbackUrl of ['not a url', 'ftp://abc/prod', 'https://abc/prod?x=1']) {
      assert.throws(
        () =>
          createHttpTransport({ ...options, callbackUrl }, { env: { AWS_REGION: 'eu-west-1' }, credentials }),
        ConfigError,
        callbackUrl,
      );
    }
  });
});

describe('the credentials the signed HTTP transport signs with', () => {
  it('uses the environment Lambda sets, session token included', async () => {
    const source = createCredentialSource({
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
    });
    assert.deepEqual(await source(), {
      accessKeyId: 'AKID',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
  });

  it('asks the provider once, and again only when its credentials are about to expire', async () => {
    let nowMs = 0;
    let calls = 0;
    const provider = async (): Promise<AwsCredentials> => {
      calls++;
      return { accessKeyId: `k${calls}`, secretAccessKey: 's', expiration: new Date(nowMs + 60 * 60_000) };
    };
    const source = renewing(
      async () => provider,
      () => nowMs,
    );
    const [first, second] = await Promise.all([source(), source()]);
    assert.equal(first.accessKeyId, 'k1');
    assert.equal(second.accessKeyId, 'k1');
    nowMs = 50 * 60_000;
    assert.equal((await source()).accessKeyId, 'k1', 'still 10 minutes left');
    nowMs = 56 * 60_000;
    assert.equal((await source()).accessKeyId, 'k2', 'within 5 minutes of expiring');
    assert.equal(calls, 2);
  });

  it('does not keep a failure: the next request asks again', async () => {
    let fail = true;
    const source = renewing(async () => async () => {
      if (fail) throw new Error('no credentials yet');
      return { accessKeyId: 'k', secretAccessKey: 's' };
    });
    await assert.rejects(source(), /no credentials yet/);
    fail = false;
    assert.equal((await source()).accessKeyId, 'k');
  });
});
