import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type ConnectionState,
  PushlineClient,
  type PushlineClientOptions,
  type PushlineError,
  type PushlineMessage,
  PushlineServerError,
  type UnreadCounts,
} from '../../client/index.ts';
import type { ClientFrame, MessageFrame } from '../../functions/shared/protocol.ts';

/** One connection as the test server sees it. */
interface ServerConnection {
  readonly socket: WebSocket;
  readonly token: string | undefined;
  readonly protocol: string;
  readonly received: ClientFrame[];
  answerPings: boolean;
  closeCode?: number;
  closedAt?: number;
  backlogDoneAt?: number;
}

/**
 * A small real WebSocket server playing the server side of protocol v1: stores messages with
 * ascending seqs, answers `resume` with unread counts then paged backlog, pushes live messages.
 */
class ProtocolServer {
  readonly connections: ServerConnection[] = [];
  readonly stored: MessageFrame[] = [];
  /** Runs after the unread frame and before the backlog of each resume. */
  beforeBacklog: ((connection: ServerConnection) => Promise<void> | void) | undefined;
  /** Refuse the handshake with this HTTP status. */
  refuseWith: number | undefined;
  gap = false;
  pageSize = 2;
  /** Most messages one resume sends; the last page then names `next`. */
  maxPerResume = Number.POSITIVE_INFINITY;
  unread: UnreadCounts & { version?: number } = { total: 0, bySource: {} };
  #seq = 0;

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket, request) => this.#accept(socket, request));
  }

  static async start(): Promise<ProtocolServer> {
    let instance: ProtocolServer | undefined;
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => (protocols.has('pushline.v1') ? 'pushline.v1' : false),
      verifyClient: (_info, callback) => {
        if (instance?.refuseWith) callback(false, instance.refuseWith);
        else callback(true);
      },
    });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    instance = new ProtocolServer(server);
    return instance;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/test`;
  }

  get open(): ServerConnection[] {
    return this.connections.filter((connection) => connection.closedAt === undefined);
  }

  /** Stores a message (as the inbox would) without pushing it. */
  store(id: string, extra: Partial<MessageFrame> = {}): MessageFrame {
    const frame: MessageFrame = {
      kind: 'message',
      id,
      seq: String(++this.#seq).padStart(6, '0'),
      type: 'test',
      data: { id },
      ts: Date.now(),
      ...extra,
    };
    this.stored.push(frame);
    return frame;
  }

  /** Stores a message and pushes it to every open connection. */
  publish(id: string, extra: Partial<MessageFrame> = {}): MessageFrame {
    const frame = this.store(id, extra);
    for (const connection of this.open) this.send(connection, frame);
    return frame;
  }

  send(connection: ServerConnection, frame: unknown): void {
    if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(JSON.stringify(frame));
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    const offered = String(request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((value) => value.trim());
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
    const connection: ServerConnection = {
      socket,
      token: query ?? offered.find((value) => value !== 'pushline.v1'),
      protocol: socket.protocol,
      received: [],
      answerPings: true,
    };
    this.connections.push(connection);
    socket.on('close', (code) => {
      connection.closeCode = code;
      connection.closedAt = Date.now();
    });
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ClientFrame;
      connection.received.push(frame);
      if (frame.action === 'ping' && connection.answerPings) {
        this.send(connection, { kind: 'pong', id: frame.id, ts: Date.now() });
      } else if (frame.action === 'resume') {
        void this.#resume(connection, frame.after, frame.limit ?? 50, frame.from);
      }
    });
  }

  async #resume(
    connection: ServerConnection,
    after: string | undefined,
    limit: number,
    from?: string,
  ): Promise<void> {
    this.send(connection, { kind: 'unread', ...this.unread });
    await this.beforeBacklog?.(connection);
    const all =
      from !== undefined
        ? this.stored.filter((m) => (m.seq ?? '') >= from)
        : after === undefined
          ? this.stored.slice(-limit)
          : this.stored.filter((m) => (m.seq ?? '') > after);
    const messages = all.slice(0, this.maxPerResume);
    const next = all[messages.length]?.seq;
    let first = true;
    for (let i = 0; i === 0 || i < messages.length; i += this.pageSize) {
      const page = messages.slice(i, i + this.pageSize);
      const last = i + this.pageSize >= messages.length;
      const more = !last || next !== undefined;
      this.send(connection, {
        kind: 'backlog',
        messages: page,
        more,
        gap: first && this.gap,
        ...(last && next !== undefined ? { next } : {}),
      });
      first = false;
    }
    connection.backlogDoneAt = Date.now();
  }
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
    unread: [] as UnreadCounts[],
    reads: [] as string[][],
    gaps: [] as (string | undefined)[],
  };
  client.on('message', (message) => seen.messages.push(message));
  client.on('state', (state) => seen.states.push(state));
  client.on('error', (error) => seen.errors.push(error));
  client.on('unread', (counts) => seen.unread.push(counts));
  client.on('read', (read) => seen.reads.push(read.ids));
  client.on('gap', (gap) => seen.gaps.push(gap.after));
  return seen;
}

describe('PushlineClient against a protocol v1 server', () => {
  let server: ProtocolServer;
  const clients: PushlineClient[] = [];

  const makeClient = (options: Partial<PushlineClientOptions> = {}) => {
    const client = new PushlineClient({
      url: server.url,
      token: () => 'token-1',
      WebSocket,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      ...options,
    });
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    server = await ProtocolServer.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  it('connects with the token in the query string and delivers the backlog in order', async () => {
    for (const id of ['a', 'b', 'c']) server.store(id);
    const client = makeClient();
    const seen = observe(client);

    await client.connect();

    assert.equal(server.connections[0]?.token, 'token-1');
    assert.deepEqual(server.connections[0]?.received[0], { action: 'resume' });
    assert.deepEqual(
      seen.messages.map((m) => [m.id, m.replayed]),
      [
        ['a', true],
        ['b', true],
        ['c', true],
      ],
    );
    assert.deepEqual(seen.states, ['connecting', 'open']);
  });

  it('offers the token as a subprotocol after pushline.v1 when asked to', async () => {
    const client = makeClient({ tokenTransport: 'protocol', token: () => 'proto-token' });
    await client.connect();
    assert.equal(server.connections[0]?.token, 'proto-token');
    assert.equal(server.connections[0]?.protocol, 'pushline.v1');
  });

  it('calls the token provider again for every reconnect', async () => {
    let calls = 0;
    const client = makeClient({ token: async () => `token-${++calls}` });
    const seen = observe(client);
    await client.connect();

    server.connections[0]?.socket.close(1001, 'Going away');
    await waitFor(() => server.connections.length === 2 && client.state === 'open', 'a second connection');

    assert.deepEqual(
      server.connections.map((c) => c.token),
      ['token-1', 'token-2'],
    );
    assert.deepEqual(seen.states, ['connecting', 'open', 'reconnecting', 'open']);
  });

  it('keeps retrying a refused handshake, reporting CONNECT_FAILED, until the server accepts', async () => {
    server.refuseWith = 401;
    let calls = 0;
    const client = makeClient({ token: () => `token-${++calls}` });
    const seen = observe(client);
    const connected = client.connect();

    await waitFor(() => seen.errors.length >= 2, 'two failed attempts');
    server.refuseWith = undefined;
    await connected;

    assert.ok(seen.errors.every((error) => error.code === 'CONNECT_FAILED'));
    assert.ok(calls >= 3, `token provider called ${calls} times`);
    assert.equal(client.state, 'open');
  });

  it('reports a failing token provider and retries with backoff', async () => {
    let calls = 0;
    const client = makeClient({
      token: () => {
        calls++;
        if (calls === 1) throw new Error('token service down');
        return 'token-ok';
      },
    });
    const seen = observe(client);
    await client.connect();
    assert.equal(seen.errors[0]?.code, 'TOKEN');
    // The cause is in the message a person reads, not only in `cause`.
    assert.equal(seen.errors[0]?.message, 'The token provider failed: token service down');
    assert.equal((seen.errors[0]?.cause as Error | undefined)?.message, 'token service down');
    assert.equal(server.connections.length, 1);
    assert.equal(server.connections[0]?.token, 'token-ok');
  });

  it('refuses, as a TOKEN error, a token that would make the URL longer than API Gateway takes', async () => {
    let calls = 0;
    const client = makeClient({ token: () => (++calls === 1 ? 'a'.repeat(16 * 1024) : 'token-ok') });
    const seen = observe(client);
    await client.connect();

    assert.equal(seen.errors[0]?.code, 'TOKEN');
    assert.match(
      seen.errors[0]?.message ?? '',
      /URL \d+ characters long; API Gateway refuses URLs over 4096/,
    );
    // Nothing was sent for the long token: the only connection is the one with the next token.
    assert.deepEqual(
      server.connections.map((c) => c.token),
      ['token-ok'],
    );
  });

  it('pings after heartbeatMs of silence and replaces a socket that stops answering', async () => {
    const client = makeClient({ heartbeatMs: 80, heartbeatTimeoutMs: 80 });
    const seen = observe(client);
    await client.connect();
    await waitFor(
      () => server.connections[0]?.received.some((f) => f.action === 'ping') === true,
      'a heartbeat ping',
    );
    assert.equal(server.connections.length, 1, 'an answered heartbeat keeps the connection');

    const first = server.connections[0] as ServerConnection;
    first.answerPings = false; // The socket stays open but the far side is gone.
    await waitFor(
      () => server.connections.length === 2 && client.state === 'open',
      'a replacement connection',
    );

    assert.ok(seen.errors.some((error) => error.code === 'HEARTBEAT_TIMEOUT'));
    await waitFor(() => first.closedAt !== undefined, 'the dead socket to be dropped');
  });

  it('drops messages whose id it has already delivered', async () => {
    server.store('a');
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    const connection = server.connections[0] as ServerConnection;

    const live = server.publish('b');
    server.send(connection, live);
    server.send(connection, server.stored[0]);
    server.send(connection, { ...live, seq: undefined }); // same id without seq: still a duplicate
    server.publish('c');
    await waitFor(() => seen.messages.length === 3, 'three messages');
    await sleep(50);

    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['a', 'b', 'c'],
    );
  });

  it('holds live messages during the resume and releases them after the backlog, in seq order', async () => {
    const stored = ['a', 'b', 'c'].map((id) => server.store(id));
    const client = makeClient({ cursor: stored[0]?.seq });
    const seen = observe(client);
    server.beforeBacklog = async (connection) => {
      // Two live pushes overtake the backlog, out of order, and one repeats a backlog message.
      // (Pushed but not in this backlog: stored after the server read it.)
      const d: MessageFrame = {
        kind: 'message',
        id: 'd',
        seq: '900001',
        type: 'test',
        data: {},
        ts: Date.now(),
      };
      const e: MessageFrame = { ...d, id: 'e', seq: '900002' };
      server.send(connection, e);
      server.send(connection, d);
      server.send(connection, stored[2]);
      await sleep(30);
      assert.equal(seen.messages.length, 0, 'nothing is delivered before the backlog');
    };

    await client.connect();

    assert.deepEqual(server.connections[0]?.received[0], { action: 'resume', after: stored[0]?.seq });
    assert.deepEqual(
      seen.messages.map((m) => [m.id, m.replayed]),
      [
        ['b', true],
        ['c', true],
        ['d', false],
        ['e', false],
      ],
    );
  });

  it('advances the cursor and resumes after it on reconnect', async () => {
    const client = makeClient();
    await client.connect();
    assert.equal(client.cursor, undefined);

    server.publish('a');
    const last = server.publish('b');
    server.publish('ephemeral', { seq: undefined });
    await waitFor(() => client.cursor === last.seq, 'the cursor to reach b');

    server.connections[0]?.socket.close(1001, 'Going away');
    await waitFor(() => server.connections[1]?.received.length === 1, 'the second resume');
    assert.deepEqual(server.connections[1]?.received[0], { action: 'resume', after: last.seq });
  });

  it('loses nothing across a reconnect: messages published while away come in the backlog', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    server.publish('before');
    await waitFor(() => seen.messages.length === 1, 'the first message');

    server.connections[0]?.socket.terminate();
    server.store('while-away-1');
    server.store('while-away-2');
    await waitFor(() => seen.messages.length === 3, 'the missed messages');
    server.publish('after');
    await waitFor(() => seen.messages.length === 4, 'the live message');

    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['before', 'while-away-1', 'while-away-2', 'after'],
    );
  });

  it('drops replayed messages a previous run delivered when restarted with its cursor and recent ids', async () => {
    const first = makeClient();
    await first.connect();
    server.publish('a');
    server.publish('b');
    await waitFor(() => first.recentIds().length === 2, 'two messages');
    const saved = { cursor: first.cursor, seenIds: first.recentIds() };
    first.close();
    server.publish('c');

    const restarted = makeClient({ cursor: '000000', seenIds: saved.seenIds }); // replays from before a
    const seen = observe(restarted);
    await restarted.connect();
    assert.deepEqual(saved.seenIds, ['a', 'b']);
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['c'],
    );
  });

  it('rolls over by opening the new connection and closing the old one only after its backlog', async () => {
    server.store('a');
    const client = makeClient({ rolloverAfterMs: 200 });
    const seen = observe(client);
    await client.connect();
    server.beforeBacklog = async () => {
      // Published while the new connection resumes: the old one still delivers it live.
      server.publish('during-rollover');
      await sleep(100);
    };

    await waitFor(
      () => server.connections.length === 2 && server.connections[1]?.backlogDoneAt !== undefined,
      'rollover',
    );
    const [old, fresh] = server.connections as [ServerConnection, ServerConnection];
    await waitFor(() => old.closedAt !== undefined, 'the old connection to close');
    server.beforeBacklog = undefined;
    server.publish('after-rollover');
    await waitFor(() => seen.messages.length === 3, 'three messages');

    assert.ok(old.closedAt !== undefined && fresh.backlogDoneAt !== undefined);
    assert.ok(old.closedAt >= fresh.backlogDoneAt, 'old closed after the new backlog was complete');
    assert.equal(old.closeCode, 1000);
    assert.equal(fresh.closedAt, undefined);
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['a', 'during-rollover', 'after-rollover'],
    );
    assert.ok(!seen.states.includes('reconnecting'), `states: ${seen.states.join(',')}`);
  });

  it('keeps the old connection when the rollover connection fails, and tries again', async () => {
    const client = makeClient({ rolloverAfterMs: 150 });
    const seen = observe(client);
    await client.connect();
    server.refuseWith = 500;
    await waitFor(() => seen.errors.length >= 1, 'a failed rollover');
    assert.equal(client.state, 'open');
    assert.equal(server.open.length, 1);

    server.refuseWith = undefined;
    await waitFor(
      () => server.connections.length === 2 && server.connections[0]?.closedAt !== undefined,
      'rollover',
    );
    assert.equal(client.state, 'open');
  });

  it('reports a gap when the history no longer reaches back to the cursor', async () => {
    server.gap = true;
    server.store('a');
    const client = makeClient({ cursor: '000000' });
    const seen = observe(client);
    await client.connect();
    assert.deepEqual(seen.gaps, ['000000']);
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ['a'],
    );
  });

  it('emits unread counts, adds live stored messages to them, and takes the read state from the server', async () => {
    server.unread = { total: 2, bySource: { billing: 2 } };
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    assert.deepEqual(client.unread, { total: 2, bySource: { billing: 2 } });

    server.publish('n1', { source: 'chat' });
    server.publish('n2', { seq: undefined }); // not stored: not counted
    await waitFor(() => seen.messages.length === 2, 'two messages');
    assert.deepEqual(client.unread, { total: 3, bySource: { billing: 2, chat: 1 } });

    server.send(server.connections[0] as ServerConnection, {
      kind: 'read',
      ids: ['n1'],
      unread: { total: 2, bySource: { billing: 2 } },
    });
    await waitFor(() => seen.reads.length === 1, 'the read event');
    assert.deepEqual(seen.reads[0], ['n1']);
    assert.deepEqual(client.unread, { total: 2, bySource: { billing: 2 } });
  });

  it('keeps the newest counts when read frames from concurrent acks cross on the way', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    const connection = server.connections[0] as ServerConnection;
    server.send(connection, {
      kind: 'read',
      ids: ['b'],
      unread: { total: 1, bySource: { crm: 1 }, version: 7 },
    });
    server.send(connection, {
      kind: 'read',
      ids: ['a'],
      unread: { total: 2, bySource: { crm: 2 }, version: 6 },
    });
    await waitFor(() => seen.reads.length === 2, 'both read events');
    assert.deepEqual(client.unread, { total: 1, bySource: { crm: 1 } });
  });

  it('takes the count of a new connection even when its version is lower than one seen before', async () => {
    server.unread = { total: 2, bySource: { crm: 2 }, version: 1_000 };
    const client = makeClient();
    await client.connect();
    assert.equal(client.unread?.total, 2);
    // The counts were recreated meanwhile (or read by a server with an earlier clock).
    server.unread = { total: 5, bySource: { crm: 5 }, version: 10 };
    (server.connections[0] as ServerConnection).socket.terminate();
    await waitFor(() => client.unread?.total === 5, 'the new connection count', 10_000);
  });

  it('asks for the rest of a long backlog from where the server says it continues', async () => {
    server.maxPerResume = 3;
    const ids = Array.from({ length: 8 }, (_, i) => `long${i}`);
    for (const id of ids) server.store(id);
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    assert.deepEqual(
      seen.messages.map((m) => m.id),
      ids,
    );
    const resumes = (server.connections[0] as ServerConnection).received.filter((f) => f.action === 'resume');
    assert.equal(resumes.length, 3, 'one resume and two continuations');
    assert.ok(resumes.slice(1).every((f) => f.action === 'resume' && f.from !== undefined));
  });

  it('repeats "mark all as read" while the server answers that more are left', async () => {
    const client = makeClient();
    await client.connect();
    const connection = server.connections[0] as ServerConnection;
    const ackAlls = () =>
      connection.received.filter((f) => f.action === 'ack' && 'all' in f && f.all === true);
    client.ackAll({ source: 'crm' });
    await waitFor(() => ackAlls().length === 1, 'the first ack all');
    assert.deepEqual(ackAlls()[0], { action: 'ack', all: true, source: 'crm' });
    server.send(connection, { kind: 'read', ids: ['a'], unread: { total: 1, bySource: {} }, more: true });
    await waitFor(() => ackAlls().length === 2, 'the repeat');
    server.send(connection, { kind: 'read', ids: ['b'], unread: { total: 0, bySource: {} } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(ackAlls().length, 2, 'no repeat once nothing is left');
  });

  it('fails a pending history() at once when its connection drops, instead of at its timeout', async () => {
    const client = makeClient();
    await client.connect();
    const pending = client.history({ limit: 5 });
    await waitFor(
      () => server.connections[0]?.received.some((f) => f.action === 'history') === true,
      'the history request',
    );
    server.connections[0]?.socket.terminate();
    // NOT_CONNECTED, not HISTORY_TIMEOUT: rejected on the drop, not after the 20 s timeout.
    await assert.rejects(pending, (error: unknown) => (error as { code?: string }).code === 'NOT_CONNECTED');
  });

  it('sends acks at once when connected and keeps them for the next connection when not', async () => {
    const client = makeClient();
    await client.connect();
    client.ack(['a', 'b']);
    await waitFor(() => server.connections[0]?.received.some((f) => f.action === 'ack') === true, 'an ack');
    assert.deepEqual(server.connections[0]?.received.at(-1), { action: 'ack', ids: ['a', 'b'] });

    server.refuseWith = 503;
    server.connections[0]?.socket.close(1001, 'Going away');
    await waitFor(() => client.state === 'reconnecting', 'reconnecting');
    client.ack('c');
    server.refuseWith = undefined;
    await waitFor(
      () => server.connections[1]?.received.some((f) => f.action === 'ack') === true,
      'the queued ack',
    );
    assert.deepEqual(
      server.connections[1]?.received.map((f) => f.action),
      ['resume', 'ack'],
    );
    assert.deepEqual(server.connections[1]?.received[1], { action: 'ack', ids: ['c'] });
  });

  it('surfaces error frames of the server and of API Gateway without closing', async () => {
    const client = makeClient();
    const seen = observe(client);
    await client.connect();
    const connection = server.connections[0] as ServerConnection;
    server.send(connection, {
      kind: 'error',
      code: 'INVALID_REQUEST',
      message: 'ids must be strings',
      action: 'ack',
    });
    server.send(connection, { message: 'Internal server error', connectionId: 'x', requestId: 'y' });
    connection.socket.send('not json');
    await waitFor(() => seen.errors.length === 3, 'three errors');

    const [serverError, gatewayError, badFrame] = seen.errors;
    assert.ok(serverError instanceof PushlineServerError);
    assert.equal(serverError.serverCode, 'INVALID_REQUEST');
    assert.equal(serverError.action, 'ack');
    assert.equal(gatewayError?.code, 'GATEWAY');
    assert.match(gatewayError?.message ?? '', /Internal server error/);
    assert.equal(badFrame?.code, 'BAD_SERVER_FRAME');
    assert.equal(client.state, 'open');
    assert.equal(server.connections.length, 1);
  });

  it('answers ping() with the round-trip time', async () => {
    const client = makeClient();
    await client.connect();
    const rtt = await client.ping();
    assert.ok(rtt >= 0 && rtt < 1000);
  });

  it('stops for good on close(): no reconnect, and a waiting connect() rejects with CLOSED', async () => {
    server.refuseWith = 503;
    const client = makeClient();
    const seen = observe(client);
    const connecting = client.connect();
    client.close();
    await assert.rejects(connecting, (error: PushlineError) => error.code === 'CLOSED');

    server.refuseWith = undefined;
    await sleep(150);
    assert.equal(server.open.length, 0);
    assert.deepEqual(seen.states, ['connecting', 'closed']);
  });

  it('reports a listener that throws as an error and keeps delivering', async () => {
    const client = makeClient();
    const seen = observe(client);
    client.on('message', (message) => {
      if (message.id === 'bad') throw new Error('app bug');
    });
    await client.connect();
    server.publish('bad');
    server.publish('good');
    await waitFor(() => seen.messages.length === 2, 'both messages');
    assert.equal(seen.errors[0]?.code, 'LISTENER');
  });
});
