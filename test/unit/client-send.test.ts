import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { PushlineClient, type PushlineError, PushlineServerError } from '../../client/index.ts';
import type { ClientFrame, SendFrame } from '../../functions/shared/protocol.ts';

/**
 * A small real WebSocket server answering `resume` (no backlog) and, through `onSend`, `send`:
 * what it returns is sent back, nothing when it returns undefined.
 */
class SendServer {
  readonly sockets: WebSocket[] = [];
  readonly received: ClientFrame[][] = [];
  onSend: (frame: SendFrame, connection: number) => unknown = (frame) => ({
    kind: 'sent',
    id: frame.id,
    messageId: `u:key:${frame.id}`,
  });

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket) => {
      const index = this.sockets.push(socket) - 1;
      this.received[index] = [];
      socket.on('message', (data) => {
        const frame = JSON.parse(String(data)) as ClientFrame;
        this.received[index]?.push(frame);
        if (frame.action === 'resume') {
          socket.send(JSON.stringify({ kind: 'unread', total: 0, bySource: {} }));
          socket.send(JSON.stringify({ kind: 'backlog', messages: [], more: false, gap: false }));
        } else if (frame.action === 'send') {
          const answer = this.onSend(frame, index);
          if (answer !== undefined) socket.send(JSON.stringify(answer));
        }
      });
    });
  }

  static async start(): Promise<SendServer> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return new SendServer(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/test`;
  }

  sends(connection: number): SendFrame[] {
    return (this.received[connection] ?? []).filter((f): f is SendFrame => f.action === 'send');
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PushlineClient.send', () => {
  let server: SendServer;
  const clients: PushlineClient[] = [];
  const makeClient = (options: { sendTimeoutMs?: number } = {}) => {
    const client = new PushlineClient({
      url: server.url,
      token: () => 'token',
      WebSocket,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      ...options,
    });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    server = await SendServer.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  it('sends the frame with a generated id and resolves with the id the message carries', async () => {
    const client = makeClient();
    await client.connect();
    const receipt = await client.send({ to: { user: 'bo' }, type: 'chat.text', data: { text: 'hi' } });
    const [frame] = server.sends(0);
    assert.match(frame?.id ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(frame, {
      action: 'send',
      id: receipt.id,
      to: { user: 'bo' },
      type: 'chat.text',
      data: { text: 'hi' },
    });
    assert.deepEqual(receipt, { id: frame?.id, messageId: `u:key:${frame?.id}` });
  });

  it('waits for the connection when made offline', async () => {
    const client = makeClient();
    const sent = client.send({ id: 'early', to: { topic: 'room.1' }, type: 't', data: null });
    void client.connect();
    assert.equal((await sent).id, 'early');
    assert.deepEqual(
      server.received[0]?.map((f) => f.action),
      ['resume', 'send'],
      'after the resume',
    );
  });

  it('sends again with the same id on the next connection when the answer was lost, and resolves once', async () => {
    server.onSend = (frame, connection) => {
      if (connection === 0) {
        server.sockets[0]?.close(1001, 'Going away'); // the answer never comes
        return undefined;
      }
      return { kind: 'sent', id: frame.id, messageId: `u:key:${frame.id}` };
    };
    const client = makeClient();
    await client.connect();
    const receipt = await client.send({ id: 'm1', to: { user: 'bo' }, type: 't', data: 1 });
    assert.equal(receipt.id, 'm1');
    assert.deepEqual([server.sends(0).map((f) => f.id), server.sends(1).map((f) => f.id)], [['m1'], ['m1']]);
  });

  it('rejects the refused send with the server code, and leaves the others waiting', async () => {
    const answers: Record<string, unknown> = {
      a: { kind: 'error', code: 'RATE_LIMITED', message: 'Too many', action: 'send', id: 'a' },
      b: undefined,
    };
    server.onSend = (frame) => answers[frame.id];
    const client = makeClient();
    await client.connect();
    const a = client.send({ id: 'a', to: { user: 'bo' }, type: 't', data: 1 });
    const b = client.send({ id: 'b', to: { user: 'bo' }, type: 't', data: 2 });
    await assert.rejects(
      a,
      (error: unknown) => error instanceof PushlineServerError && error.serverCode === 'RATE_LIMITED',
    );
    await waitFor(() => server.sends(0).length === 2, 'both sent');
    server.sockets[0]?.send(JSON.stringify({ kind: 'sent', id: 'b', messageId: 'u:key:b' }));
    assert.equal((await b).messageId, 'u:key:b');
  });

  it('refuses fields the server would refuse, sending nothing', async () => {
    const client = makeClient();
    await client.connect();
    for (const bad of [
      { id: 'has space', to: { user: 'bo' }, type: 't', data: 1 },
      { to: { user: 'bo' }, type: '', data: 1 },
      { to: { user: 'bo' }, type: 't', data: undefined },
      { to: { topic: 'bad topic' }, type: 't', data: 1 },
      { to: { user: 'bo', topic: 'x' }, type: 't', data: 1 },
      { to: { service: 'no way' }, type: 't', data: 1 },
    ]) {
      await assert.rejects(
        client.send(bad as Parameters<PushlineClient['send']>[0]),
        (error: PushlineError) => error.code === 'INVALID_SEND',
        JSON.stringify(bad),
      );
    }
    assert.deepEqual(server.sends(0), []);
  });

  it("refuses a frame over API Gateway's 32 KB client frame and data that is not JSON, sending nothing", async () => {
    const client = makeClient();
    await client.connect();
    const big = client.send({ id: 'big', to: { user: 'bo' }, type: 't', data: 'é'.repeat(16 * 1024) });
    await assert.rejects(big, (error: PushlineError) => {
      assert.equal(error.code, 'INVALID_SEND');
      assert.match(error.message, /the send frame is \d+ bytes; API Gateway takes at most 32768 bytes/);
      return true;
    });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await assert.rejects(
      client.send({ id: 'loop', to: { user: 'bo' }, type: 't', data: circular }),
      (error: PushlineError) => error.code === 'INVALID_SEND' && /data must be JSON/.test(error.message),
    );
    const fits = await client.send({ id: 'fits', to: { user: 'bo' }, type: 't', data: 'a'.repeat(32_000) });
    assert.equal(fits.id, 'fits', 'a frame just under 32 KB is sent');
    assert.deepEqual(
      server.sends(0).map((frame) => frame.id),
      ['fits'],
    );
  });

  it('rejects what is waiting with CLOSED on close, and with SEND_TIMEOUT when never answered', async () => {
    server.onSend = () => undefined;
    const client = makeClient({ sendTimeoutMs: 300 });
    await client.connect();
    await assert.rejects(
      client.send({ id: 'slow', to: { user: 'bo' }, type: 't', data: 1 }),
      (error: PushlineError) => error.code === 'SEND_TIMEOUT',
    );
    const waiting = client.send({ id: 'later', to: { user: 'bo' }, type: 't', data: 1 });
    client.close();
    await assert.rejects(waiting, (error: PushlineError) => error.code === 'CLOSED');
  });
});
