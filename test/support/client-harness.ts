/**
 * Shared by the client integration tests: SDK clients on the local stack, a publisher, and a
 * record of what the application received.
 */
import { randomUUID } from 'node:crypto';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { WebSocket } from 'ws';
import {
  type ConnectionState,
  PushlineClient,
  type PushlineClientOptions,
  type PushlineError,
  type PushlineMessage,
} from '../../client/index.ts';
import { mintLocalToken } from '../../local/tokens.ts';

/** The outputs of the local stack the tests use. */
export interface StackOutputs {
  readonly WebSocketUrl: string;
  readonly TopicArn: string;
  readonly Region: string;
  readonly AwsEndpointUrl: string;
}

/** A fresh user id, so tests sharing a stack never see each other's messages. */
export const newUser = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

/**
 * Polls `condition` every 20 ms for at most `timeoutMs`; the error names what was awaited. Generous,
 * because on a loaded machine a local Lambda cold start can delay a delivery by over ten seconds.
 */
export async function waitFor(
  condition: () => boolean,
  what: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what()}`);
    await sleep(20);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes envelopes v1 to the stack's topic through the real SNS API. */
export function publisher(outputs: StackOutputs) {
  const sns = new SNSClient({
    endpoint: outputs.AwsEndpointUrl,
    region: outputs.Region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    async publish(envelope: {
      id?: string;
      to: { users: string[] };
      type: string;
      source?: string;
      data: unknown;
      persist?: boolean;
    }): Promise<void> {
      await sns.send(
        new PublishCommand({ TopicArn: outputs.TopicArn, Message: JSON.stringify({ v: 1, ...envelope }) }),
      );
    },
    close: () => sns.destroy(),
  };
}

/** How one tracked socket ended. */
export interface SocketEnd {
  readonly code: number;
  /** Milliseconds from open to close. */
  readonly openFor: number;
}

/** Every socket a client opened, so a test can cut them as a network failure would. */
export class SocketTracker {
  readonly sockets: WebSocket[] = [];
  readonly ends: SocketEnd[] = [];

  /** A WebSocket class for the client's options that records each socket it makes. */
  readonly WebSocket = (() => {
    const { sockets, ends } = this;
    return class TrackedWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
        let openedAt = 0;
        this.once('open', () => {
          openedAt = Date.now();
        });
        this.once('close', (code) => {
          if (openedAt > 0) ends.push({ code, openFor: Date.now() - openedAt });
        });
      }
    };
  })();

  /** Sockets that are open now. */
  get open(): WebSocket[] {
    return this.sockets.filter((socket) => socket.readyState === WebSocket.OPEN);
  }
}

/** What one client delivered to the application. */
export class Received {
  readonly messages: PushlineMessage[] = [];
  readonly counts = new Map<string, number>();
  readonly states: ConnectionState[] = [];
  readonly errors: PushlineError[] = [];

  constructor(client: PushlineClient) {
    client.on('message', (message) => {
      this.messages.push(message);
      this.counts.set(message.id, (this.counts.get(message.id) ?? 0) + 1);
    });
    client.on('state', (state) => this.states.push(state));
    client.on('error', (error) => this.errors.push(error));
  }

  /** Ids delivered more than once (must stay empty). */
  get duplicates(): string[] {
    return [...this.counts].filter(([, count]) => count > 1).map(([id]) => id);
  }

  /** Which of `ids` have not arrived yet. */
  missing(ids: readonly string[]): string[] {
    return ids.filter((id) => !this.counts.has(id));
  }
}

/** `client.connect()`, failing after `timeoutMs` with the errors the client reported meanwhile. */
export async function connectWithin(client: PushlineClient, timeoutMs = 30_000): Promise<void> {
  const errors: string[] = [];
  const off = client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`Not connected within ${timeoutMs} ms; errors: ${errors.slice(0, 3).join(' | ')}`),
            ),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    off();
  }
}

/** Per-test time limit: a stuck test fails instead of holding the run. */
export const LIMIT = { timeout: 150_000 };

/** A client for `userId` on the stack (Node 20: `ws` passed in), with test-friendly backoff. */
export function stackClient(
  outputs: StackOutputs,
  userId: string,
  options: Partial<PushlineClientOptions> = {},
): PushlineClient {
  return new PushlineClient({
    url: outputs.WebSocketUrl,
    token: () => mintLocalToken(userId),
    WebSocket,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...options,
  });
}
