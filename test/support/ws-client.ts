import WebSocket from 'ws';

/** A frame as received: parsed JSON when it was JSON, else the raw text. */
export type Frame = Record<string, unknown>;

/** A real WebSocket client that records every frame, for tests. */
export class TestSocket {
  readonly frames: Frame[] = [];
  /** Every frame's text exactly as received (JSON.parse rounds integers above 2^53). */
  readonly texts: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      this.texts.push(text);
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        this.frames.push({ raw: text });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
  }

  /** Opens a connection; rejects with the HTTP status when the handshake is refused. */
  static open(
    url: string,
    options: { protocols?: string[]; headers?: Record<string, string> } = {},
  ): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options.protocols ?? [], {
        headers: options.headers,
        handshakeTimeout: 10_000,
      });
      const client = new TestSocket(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        reject(new HandshakeRefused(response.statusCode ?? 0));
        response.resume();
        socket.terminate();
      });
      socket.once('error', (error) => reject(error));
    });
  }

  /** Sends a JSON frame (or raw text). */
  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /**
   * Sends a JSON frame (or raw text) as one message in WebSocket frames of at most `frameBytes`, as
   * a client must for a message over API Gateway's 32 KB frame limit.
   */
  sendInFrames(frame: unknown, frameBytes = 32 * 1024): void {
    const bytes = Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame));
    for (let offset = 0; offset < bytes.length; offset += frameBytes)
      this.socket.send(bytes.subarray(offset, offset + frameBytes), {
        binary: false,
        fin: offset + frameBytes >= bytes.length,
      });
  }

  /** Waits for the first frame (from `from` on) matching `predicate`; fails after `timeoutMs` (generous: it bounds a wait, not a speed). */
  async next(predicate: (frame: Frame) => boolean, timeoutMs = 30_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`No matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Frames of kind `message`. */
  messages(): Frame[] {
    return this.frames.filter((frame) => frame.kind === 'message');
  }

  /** Closes and waits for the close to finish (bounded). */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close(1000);
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
    this.socket.terminate();
  }
}

/** The handshake was refused with an HTTP status. */
export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

/** Resolves with the HTTP status that refused the handshake; fails if the connection opened. */
export async function refusedStatus(url: string, options: { protocols?: string[] } = {}): Promise<number> {
  try {
    const socket = await TestSocket.open(url, options);
    await socket.close();
  } catch (error) {
    if (error instanceof HandshakeRefused) return error.status;
    throw error;
  }
  throw new Error('the handshake was accepted');
}

/** Waits until `check` returns true, polling; fails after `timeoutMs` (generous: it bounds a wait, not a speed). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not hold within ${timeoutMs} ms`);
}
