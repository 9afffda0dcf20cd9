import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { PostOutcome } from '../domain/fan-out.ts';

/** Retry settings for throttled (429) and 5xx answers of the management API. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Default: 4 attempts, full-jitter backoff from 50 ms up to 1 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 50, maxDelayMs: 1000 };

const THROTTLING = new Set(['LimitExceededException', 'ThrottlingException', 'TooManyRequestsException']);

/** Posts frames to connections through the stage's management API (`@connections`). */
export interface ConnectionPoster {
  /** Sends one frame; 'gone' when the connection no longer exists; 'failed' after retries. */
  post(connectionId: string, data: string): Promise<PostOutcome>;
  /** Closes a connection; a connection already gone is not an error. */
  disconnect(connectionId: string): Promise<void>;
}

/** True for answers worth retrying: throttling, 5xx, and network errors with no HTTP answer. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (THROTTLING.has(error.name)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined ? error.name !== 'GoneException' : status === 429 || status >= 500;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Builds the poster once per cold start from the stage's callback URL, over keep-alive sockets
 * (at most `maxSockets` open), with the SDK's own retries off so this module's policy is the only one.
 */
export function createConnectionPoster(
  callbackUrl: string,
  options: { maxSockets: number; retry?: RetryPolicy },
): ConnectionPoster {
  const retry = options.retry ?? DEFAULT_RETRY;
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
  const client = new ApiGatewayManagementApiClient({
    endpoint: callbackUrl,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      // A post that hangs must not hold the whole fan-out: it fails, and the retry policy decides.
      connectionTimeout: 3_000,
      requestTimeout: 5_000,
    }),
  });

  return {
    async post(connectionId, data) {
      for (let attempt = 1; ; attempt++) {
        try {
          await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
          return 'delivered';
        } catch (error) {
          if (error instanceof Error && error.name === 'GoneException') return 'gone';
          if (!isRetryable(error) || attempt >= retry.attempts) throw error;
          const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
          await sleep(Math.random() * cap);
        }
      }
    },
    async disconnect(connectionId) {
      try {
        await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      } catch (error) {
        if (!(error instanceof Error && error.name === 'GoneException')) throw error;
      }
    },
  };
}
