import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type ConnectionState,
  type PresenceEvent,
  PushlineClient,
  type PushlineClientOptions,
  type PushlineError,
  type PushlineMessage,
  PushlineServerError,
} from '../../client/index.ts';
import type { ClientFrame, MessageFrame } from '../../functions/shared/protocol.ts';
import { topicMatches } from '../../functions/shared/topics.ts';

/** One connection as the test server sees it. */
interface ServerConnection {
  readonly socket: WebSocket;
  readonly received: ClientFrame[];
  readonly topics: Set<string>;
  closedAt?: number;
  /** When the server sent `subscribed` for each topic. */
  readonly subscribedAt: Map<string, number>;
}

type SubscribeFrame = Extract<ClientFrame, { action: 'subscribe' }>;

/**
 * A small real WebSocket server playing the server side of protocol v1 with topics: an inbox, topics
 * and broadcasts, each with its own sequence (topic and broadcast seqs start far above the inbox's,
 * so that a client mixing them up resumes from the wrong place and the tests see it).
 */
class TopicServer {
  readonly connections: ServerConnection[] = [];
  readonly stored: MessageFrame[] = [];
  readonly topicStore = new Map<string, MessageFrame[]>();
  readonly broadcasts: MessageFrame[] = [];
  /** What the tokens grant, as in a token's `topics` claim. */
  grants: string[] = ['news.*', 'room:1'];
  /** Most topic messages one subscribe replays; the last page then names `next`. */
  maxPerReplay = Number.POSITIVE_INFINITY;
  replayPageSize = 2;
  /** Runs before a subscribe is answered (replay, then `subscribed`). */
  beforeSubscribeAnswer: ((connection: ServerConnection, frame: SubscribeFrame) => Promise<void>) | undefined;
  #userSeq = 0;
  #topicSeq = 500_000;
  #broadcastSeq = 900_000;

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async start(): Promise<TopicServer> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return new TopicServer(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/test`;
  }

  get open(): ServerConnection[] {
    return this.connections.filter((connection) => connection.closedAt === undefined);
  }

  /** A user message, stored and pushed to every open connection. */
  publish(id: string): MessageFrame {
    const frame = message(id, String(++this.#userSeq).padStart(6, '0'));
    this.stored.push(frame);
    for (const connection of this.open) this.send(connection, frame);
    return frame;
  }

  /** A topic message, stored; pushed to the connections subscribed unless `push` is false. */
  publishTopic(topic: string, id: string, push = true): MessageFrame {
    const frame = { ...message(id, String(++this.#topicSeq).padStart(6, '0')), topic };
    const list = this.topicStore.get(topic) ?? [];
    list.push(frame);
    this.topicStore.set(topic, list);
    if (push)
      for (const connection of this.open) if (connection.topics.has(topic)) this.send(connection, frame);
    return frame;
  }

  /** A broadcast, stored; pushed to every open connection unless `push` is false. */
  broadcast(id: string, push = true): MessageFrame {
    const frame: MessageFrame = {
      ...message(id, String(++this.#broadcastSeq).padStart(6, '0')),
      broadcast: true,
    };
    this.broadcasts.push(frame);
    if (push) for (const connection of this.open) this.send(connection, frame);
    return frame;
  }

  send(connection: ServerConnection, frame: unknown): void {
    if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(JSON.stringify(frame));
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: WebSocket): void {
    const connection: ServerConnection = {
      socket,
      received: [],
      topics: new Set(),
      subscribedAt: new Map(),
    };
    this.connections.push(connection);
    socket.on('close', () => {
      connection.closedAt = Date.now();
    });
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ClientFrame;
      connection.received.push(frame);
      if (frame.action === 'ping') this.send(connection, { kind: 'pong', id: frame.id, ts: Date.now() });
      else if (frame.action === 'resume') this.#resume(connection, frame);
      else if (frame.action === 'subscribe') void this.#subscribe(connection, frame);
      else if (frame.action === 'unsubscribe') {
        connection.topics.delete(frame.topic);
        this.send(connection, { kind: 'unsubscribed', topic: frame.topic });
      }
    });
  }

  #resume(connection: ServerConnection, frame: Extract<ClientFrame, { action: 'resume' }>): void {
    this.send(connection, { kind: 'unread', total: 0, bySource: {} });
    if (frame.broadcastAfter !== undefined) {
      const after = frame.broadcastAfter;
      const messages = this.broadcasts.filter((m) => (m.seq ?? '') > after);
      this.send(connection, { kind: 'backlog', broadcast: true, messages, more: false, gap: false });
    }
    const after = frame.after;
    const messages = after === undefined ? this.stored : this.stored.filter((m) => (m.seq ?? '') > after);
    this.send(connection, { kind: 'backlog', messages, more: false, gap: false });
  }

  async #subscribe(connection: ServerConnection, frame: SubscribeFrame): Promise<void> {
    await this.beforeSubscribeAnswer?.(connection, frame);
    if (!topicMatches(frame.topic, this.grants)) {
      this.send(connection, {
        kind: 'error',
        code: 'FORBIDDEN',
        message: `The token does not grant topic "${frame.topic}".`,
        action: 'subscribe',
        topic: frame.topic,
      });
      return;
    }
    connection.topics.add(frame.topic);
    if (frame.after !== undefined || frame.from !== undefined) {
      const all = (this.topicStore.get(frame.topic) ?? []).filter((m) =>
        frame.from !== undefined ? (m.seq ?? '') >= frame.from : (m.seq ?? '') > (frame.after ?? ''),
      );
      const messages = all.slice(0, this.maxPerReplay);
      const next = all[messages.length]?.seq;
      for (let i = 0; i === 0 || i < messages.length; i += this.replayPageSize) {
        const last = i + this.replayPageSize >= messages.length;
        this.send(connection, {
          kind: 'backlog',
          topic: frame.topic,
          messages: messages.slice(i, i + this.replayPageSize),
          more: !last || next !== undefined,
          gap: false,
          ...(last && next !== undefined ? { next } : {}),
        });
      }
    }
    if (frame.from === undefined) {
      connection.subscribedAt.set(frame.topic, Date.now());
      this.send(connection, {
        kind: 'subscribed',
        topic: frame.topic,
        ...(frame.topic.startsWith('room:') ? { presence: true } : {}),
      });
    }
  }
}

function message(id: string, seq: string): MessageFrame {
  return { kind: 'message', id, seq, type: 'test', data: { id }, ts: Date.now() };
}

/** Polls `condition` every 10 ms, for at most `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client plus everything it emitted. */
function observe(client: PushlineClient) {
  const seen = {
    messages: [] as PushlineMessage[],
    states: [] as ConnectionState[],
    errors: [] as PushlineError[],
    topics: [] as (readonly string[])[],
    presence: [] as PresenceEvent[],
    disconnects: [] as (string | undefined)[],
    unreadEvents: 0,
  };
  client.on('message', (m) => seen.messages.push(m));
  client.on('state', (state) => seen.states.push(state));
  client.on('error', (error) => seen.errors.push(error));
  client.on('topics', (topics) => seen.topics.push(topics));
  client.on('presence', (event) => seen.presence.push(event));
  client.on('disconnected', ({ reason }) => seen.disconnects.push(reason));
  client.on('unread', () => seen.unreadEvents++);
  return seen;
}

const frames = (connection: ServerConnection | undefined, action: ClientFrame['action']) =>
  (connection?.received ?? []).filter((frame) => frame.action === action);

describe('PushlineClient topics, broadcasts, presence and disconnect', () => {
  let server: TopicServer;
  const clients: PushlineClient[] = [];

  const makeClient = (options: Partial<PushlineClientOptions> = {}) => {
    const client = new PushlineClient({
      url: server.url,
      token: () => 'token',
      WebSocket,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      ...options,
    });
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    server = await TopicServer.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  it('subscribes, lists the topic, and delivers its messages marked with the topic', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();

    const subscription = await client.subscribe('news.sport');
    server.publishTopic('news.sport', 'goal');
    await waitFor(() => seen.messages.length === 1, 'the topic message');

    assert.deepEqual(subscription, { topic: 'news.sport', presence: false });
    assert.deepEqual(frames(server.connections[0], 'subscribe'), [
      { action: 'subscribe', topic: 'news.sport' },
    ]);
    assert.deepEqual(client.topics, ['news.sport']);
    assert.deepEqual(seen.topics, [['news.sport']]);
    assert.equal(seen.messages[0]?.id, 'goal');
    assert.equal(seen.messages[0]?.topic, 'news.sport');
    assert.equal(seen.messages[0]?.broadcast, undefined);
    assert.equal(seen.messages[0]?.replayed, false);
  });

  it('throws INVALID_TOPIC for a bad name and sends nothing', async () => {
    const client = makeClient();
    await client.connect();

    for (const bad of ['', 'has space', 'a#b', 'news.*', 'x'.repeat(129)]) {
      assert.throws(
        () => client.subscribe(bad),
        (error: PushlineError) => error.code === 'INVALID_TOPIC' && /topic/.test(error.message),
        `"${bad.slice(0, 20)}" should be refused`,
      );
    }
    assert.throws(
      () => client.unsubscribe('a b'),
      (error: PushlineError) => error.code === 'INVALID_TOPIC',
    );
    await client.ping(); // Anything sent before the ping would have reached the server before it.
    assert.deepEqual(
      server.connections[0]?.received.map((f) => f.action),
      ['resume', 'ping'],
    );
  });

  it('rejects a refused subscription with FORBIDDEN and keeps the connection open', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();

    await assert.rejects(client.subscribe('secret.plans'), (error: unknown) => {
      assert.ok(error instanceof PushlineServerError);
      assert.equal(error.code, 'FORBIDDEN');
      assert.equal(error.serverCode, 'FORBIDDEN');
      assert.equal(error.topic, 'secret.plans');
      assert.equal(error.action, 'subscribe');
      return true;
    });

    assert.deepEqual(client.topics, []);
    assert.equal(client.state, 'open');
    assert.equal(server.open.length, 1);
    assert.deepEqual(seen.errors, [], 'the rejection is the report; no error event on top of it');
    await client.subscribe('news.weather'); // The same connection still subscribes.
    assert.equal(server.connections.length, 1);
  });

  it('remembers a subscription made before connecting and sends it once connected', async () => {
    const client = makeClient();
    const subscribed = client.subscribe('news.sport');
    assert.deepEqual(client.topics, [], 'not listed before the server confirms');

    await client.connect();
    await subscribed;

    assert.deepEqual(
      server.connections[0]?.received.map((f) => f.action),
      ['resume', 'subscribe'],
    );
    assert.deepEqual(client.topics, ['news.sport']);
  });

  it('unsubscribes, resolves on the answer, and drops messages of the topic that still come', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    server.publishTopic('news.sport', 'before-leaving');
    await waitFor(() => seen.messages.length === 1, 'the first topic message');

    await client.unsubscribe('news.sport');

    const connection = server.connections[0] as ServerConnection;
    assert.deepEqual(frames(connection, 'unsubscribe'), [{ action: 'unsubscribe', topic: 'news.sport' }]);
    assert.deepEqual(client.topics, []);
    assert.deepEqual(client.topicCursors, {}, 'the cursor of a topic left is forgotten');
    assert.deepEqual(seen.topics.at(-1), []);
    // A message already on its way when the server removed the subscription.
    server.send(connection, { ...message('late', '999999'), topic: 'news.sport' });
    server.publish('user-message');
    await waitFor(() => seen.messages.some((m) => m.id === 'user-message'), 'the user message');
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['before-leaving', 'user-message'],
    );
  });

  it('rejects a waiting subscribe with CANCELLED when unsubscribe comes first', async () => {
    const client = makeClient();
    const subscribing = client.subscribe('news.sport');
    const leaving = client.unsubscribe('news.sport');
    await assert.rejects(subscribing, (error: PushlineError) => error.code === 'CANCELLED');
    await leaving; // Not connected: nothing to undo on the server.
    await client.connect();
    await client.ping();
    assert.deepEqual(frames(server.connections[0], 'subscribe'), []);
  });

  it('subscribes again after a reconnect with the last topic seq, and the replay brings what was missed', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    const last = server.publishTopic('news.sport', 'seen-live');
    await waitFor(() => client.topicCursors['news.sport'] === last.seq, 'the topic cursor');

    server.connections[0]?.socket.terminate();
    server.publishTopic('news.sport', 'missed-1', false);
    server.publishTopic('news.sport', 'missed-2', false);
    server.publishTopic('news.sport', 'missed-3', false);
    await waitFor(() => seen.messages.length === 4, 'the replayed messages');

    assert.deepEqual(frames(server.connections[1], 'subscribe')[0], {
      action: 'subscribe',
      topic: 'news.sport',
      after: last.seq,
    });
    assert.deepEqual(
      seen.messages.map((m) => [m.id, m.topic, m.replayed]),
      [
        ['seen-live', 'news.sport', false],
        ['missed-1', 'news.sport', true],
        ['missed-2', 'news.sport', true],
        ['missed-3', 'news.sport', true],
      ],
    );
    assert.equal(client.topicCursors['news.sport'], server.topicStore.get('news.sport')?.at(-1)?.seq);
    assert.deepEqual(client.topics, ['news.sport']);
  });

  it('asks for the rest of a long topic replay with from: next', async () => {
    server.maxPerReplay = 2;
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    server.publishTopic('news.sport', 'first');
    await waitFor(() => seen.messages.length === 1, 'the first message');

    server.connections[0]?.socket.terminate();
    for (let i = 0; i < 5; i++) server.publishTopic('news.sport', `missed-${i}`, false);
    await waitFor(() => seen.messages.length === 6, 'the whole replay');

    const subscribes = frames(server.connections[1], 'subscribe') as SubscribeFrame[];
    assert.equal(subscribes.length, 3, 'one subscribe and two continuations');
    assert.ok(subscribes.slice(1).every((f) => f.from !== undefined && f.after === undefined));
    assert.deepEqual(
      seen.messages.slice(1).map((m) => m.id),
      ['missed-0', 'missed-1', 'missed-2', 'missed-3', 'missed-4'],
    );
  });

  it('keeps the topic cursor before live messages that overtake the replay until the replay is complete', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    const before = server.publishTopic('news.sport', 'a');
    await waitFor(() => client.topicCursors['news.sport'] === before.seq, 'the cursor at a');

    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let overtook: MessageFrame | undefined;
    server.beforeSubscribeAnswer = async (connection) => {
      server.beforeSubscribeAnswer = undefined;
      connection.topics.add('news.sport');
      overtook = server.publishTopic('news.sport', 'live-during-replay'); // after 'missed'
      await held;
    };
    server.connections[0]?.socket.terminate();
    server.publishTopic('news.sport', 'missed', false);
    await waitFor(() => seen.messages.some((m) => m.id === 'live-during-replay'), 'the live message');

    assert.equal(client.topicCursors['news.sport'], before.seq, 'a cursor past "missed" would skip it');
    release();
    await waitFor(() => seen.messages.some((m) => m.id === 'missed'), 'the replay');
    await waitFor(() => client.topicCursors['news.sport'] === overtook?.seq, 'the cursor after the replay');
  });

  it('subscribes on the new connection of a rollover before closing the old one', async () => {
    const client = makeClient({ rolloverAfterMs: 200 });
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    server.beforeSubscribeAnswer = async () => {
      server.publishTopic('news.sport', 'during-rollover'); // The old connection still delivers it.
      await sleep(100);
    };

    await waitFor(() => server.connections[0]?.closedAt !== undefined, 'the old connection to close');
    const [old, fresh] = server.connections as [ServerConnection, ServerConnection];
    server.beforeSubscribeAnswer = undefined;
    server.publishTopic('news.sport', 'after-rollover');
    await waitFor(() => seen.messages.length === 2, 'both topic messages');

    const subscribedAt = fresh.subscribedAt.get('news.sport');
    assert.ok(subscribedAt !== undefined && old.closedAt !== undefined);
    assert.ok(old.closedAt >= subscribedAt, 'old closed after the new connection was subscribed');
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['during-rollover', 'after-rollover'],
    );
    assert.ok(!seen.states.includes('reconnecting'), `states: ${seen.states.join(',')}`);
  });

  it('reports a re-subscription the server refuses after a reconnect and drops the topic', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    await client.subscribe('room:1');

    server.grants = ['room:1']; // The renewed token no longer grants news.*.
    server.connections[0]?.socket.terminate();
    await waitFor(() => seen.errors.some((e) => e.code === 'FORBIDDEN'), 'the refusal');
    await waitFor(() => client.state === 'open' && server.connections.length === 2, 'reconnected');

    const refusal = seen.errors.find((e) => e.code === 'FORBIDDEN') as PushlineServerError;
    assert.equal(refusal.topic, 'news.sport');
    assert.deepEqual(client.topics, ['room:1']);
    assert.deepEqual(seen.topics.at(-1), ['room:1']);
  });

  it('never moves the inbox cursor, the unread counts or the acks with topic messages and broadcasts', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    await client.subscribe('news.sport');
    const user = server.publish('user-1');
    const topic = server.publishTopic('news.sport', 'topic-1');
    const broadcast = server.broadcast('broadcast-1');
    await waitFor(() => seen.messages.length === 3, 'three messages');
    const unreadBefore = seen.unreadEvents;

    assert.equal(client.cursor, user.seq);
    assert.equal(client.topicCursors['news.sport'], topic.seq);
    assert.equal(client.broadcastCursor, broadcast.seq);
    assert.equal(client.unread?.total, 1);
    assert.equal(seen.messages.find((m) => m.id === 'broadcast-1')?.broadcast, true);

    client.ack(['topic-1', 'broadcast-1', 'user-1']);
    await waitFor(() => frames(server.connections[0], 'ack').length === 1, 'the ack');
    assert.deepEqual(frames(server.connections[0], 'ack'), [{ action: 'ack', ids: ['user-1'] }]);
    server.publishTopic('news.sport', 'topic-2');
    server.broadcast('broadcast-2');
    await waitFor(() => seen.messages.length === 5, 'five messages');
    assert.equal(seen.unreadEvents, unreadBefore, 'no unread event for topic messages or broadcasts');
    assert.equal(client.cursor, user.seq);
  });

  it('resumes with broadcastAfter and delivers the broadcasts missed while away', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    server.publish('user-1');
    const first = server.broadcast('broadcast-1');
    await waitFor(() => client.broadcastCursor === first.seq, 'the broadcast cursor');

    server.connections[0]?.socket.terminate();
    const missed = server.broadcast('broadcast-missed', false);
    await waitFor(() => seen.messages.some((m) => m.id === 'broadcast-missed'), 'the missed broadcast');

    assert.deepEqual(frames(server.connections[1], 'resume')[0], {
      action: 'resume',
      after: server.stored[0]?.seq,
      broadcastAfter: first.seq,
    });
    const replayed = seen.messages.find((m) => m.id === 'broadcast-missed');
    assert.equal(replayed?.broadcast, true);
    assert.equal(replayed?.replayed, true);
    assert.equal(client.broadcastCursor, missed.seq);
  });

  it('restarts with the topics and cursors of an earlier run and replays what came meanwhile', async () => {
    const first = makeClient();
    await first.connect();
    await first.subscribe('news.sport');
    server.publishTopic('news.sport', 'seen');
    server.broadcast('broadcast-seen');
    await waitFor(() => first.recentIds().length === 2, 'two messages');
    const saved = {
      topics: first.topics,
      topicCursors: first.topicCursors,
      broadcastCursor: first.broadcastCursor,
      seenIds: first.recentIds(),
    };
    first.close();
    server.publishTopic('news.sport', 'while-stopped', false);

    const restarted = makeClient(saved);
    const seen = observe(restarted);
    assert.deepEqual(restarted.topics, ['news.sport'], 'listed from the start');
    await restarted.connect();
    await waitFor(() => seen.messages.length === 1, 'the message published while stopped');

    const connection = server.connections[1];
    assert.deepEqual(frames(connection, 'resume'), [
      { action: 'resume', broadcastAfter: saved.broadcastCursor },
    ]);
    assert.deepEqual(frames(connection, 'subscribe'), [
      { action: 'subscribe', topic: 'news.sport', after: saved.topicCursors['news.sport'] },
    ]);
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['while-stopped'],
    );
  });

  it('emits presence joins and leaves once each, even when both connections of a rollover carry them', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    const subscription = await client.subscribe('room:1');
    assert.equal(subscription.presence, true);

    const connection = server.connections[0] as ServerConnection;
    const join = { kind: 'presence', topic: 'room:1', user: 'bob', state: 'join', ts: 1000 };
    server.send(connection, join);
    server.send(connection, join); // the same frame again, as a second connection would bring it
    server.send(connection, { ...join, state: 'leave', ts: 2000 });
    server.send(connection, { ...join, topic: 'room:2' }); // not subscribed: ignored
    await waitFor(() => seen.presence.length === 2, 'two presence events');
    await client.ping();

    assert.deepEqual(seen.presence, [
      { topic: 'room:1', user: 'bob', state: 'join', ts: 1000 },
      { topic: 'room:1', user: 'bob', state: 'leave', ts: 2000 },
    ]);
  });

  it('stops for good on a disconnect frame: disconnected event, closed, no reconnect', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    const disconnected = new Promise<{ reason: string | undefined }>((resolve) =>
      client.once('disconnected', resolve),
    );
    const connection = server.connections[0] as ServerConnection;

    server.send(connection, { kind: 'disconnect', reason: 'logout' });
    const event = await disconnected;

    assert.deepEqual(event, { reason: 'logout' });
    assert.equal(client.state, 'closed');
    assert.deepEqual(seen.states, ['connecting', 'open', 'closed']);
    await waitFor(() => connection.closedAt !== undefined, 'the socket to close');
    await sleep(150); // Several reconnect delays (20-50 ms): a reconnect would have opened by now.
    assert.equal(server.connections.length, 1);
  });

  it('rejects a waiting subscribe with CLOSED on close()', async () => {
    server.beforeSubscribeAnswer = () => new Promise(() => {}); // never answers
    const client = makeClient();
    await client.connect();
    const subscribing = client.subscribe('news.sport');
    await waitFor(() => frames(server.connections[0], 'subscribe').length === 1, 'the subscribe');
    client.close();
    await assert.rejects(subscribing, (error: PushlineError) => error.code === 'CLOSED');
    assert.deepEqual(client.topics, []);
  });
});
