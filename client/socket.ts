import { SUBPROTOCOL } from '../functions/shared/protocol.ts';
import { PushlineError } from './errors.ts';

/**
 * A WebSocket class: the browser's and Node 22's global `WebSocket`, or `WebSocket` from the `ws`
 * package on Node 20. Typed loosely so that each of them fits.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

/** The part of a WebSocket the client uses (common to the browser, undici and `ws`). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the TCP connection at once, without a closing handshake. */
  terminate?: () => void;
}

/** `readyState` of an open socket (the same number in every implementation). */
export const OPEN = 1;

/** How the token reaches the server: `?token=` in the URL, or `Sec-WebSocket-Protocol`. */
export type TokenTransport = 'query' | 'protocol';

/** The WebSocket class to use: the one passed in, else the global one. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const found = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof found !== 'function') {
    throw new PushlineError(
      'NO_WEBSOCKET',
      'No global WebSocket (Node 20): pass one in the options, e.g. { WebSocket } from the ws package.',
    );
  }
  return found;
}

/** API Gateway's quota on a WebSocket API URL's length in characters, query included. */
export const MAX_URL_CHARS = 4096;

/**
 * Opens a socket carrying `token` as `transport` says. A token that would make the URL longer than
 * API Gateway takes is a `TOKEN` error here, rather than a refused handshake whose status a browser
 * never shows.
 */
export function openSocket(
  WebSocketClass: WebSocketConstructor,
  url: string,
  token: string,
  transport: TokenTransport,
): SocketLike {
  if (transport === 'protocol') {
    // The server echoes `pushline.v1`; the token is the second offer (JWTs are valid header tokens).
    return new WebSocketClass(url, [SUBPROTOCOL, token]) as SocketLike;
  }
  const withToken = new URL(url);
  withToken.searchParams.set('token', token);
  const length = withToken.toString().length;
  if (length > MAX_URL_CHARS) {
    throw new PushlineError(
      'TOKEN',
      `The token makes the URL ${length} characters long; API Gateway refuses URLs over ${MAX_URL_CHARS}. ` +
        "Use a shorter token, or tokenTransport: 'protocol' to send it in a header.",
    );
  }
  return new WebSocketClass(withToken.toString()) as SocketLike;
}

/** Closes a socket and stops listening to it; safe on a socket in any state. */
export function discardSocket(socket: SocketLike, code: number, reason: string, abrupt: boolean): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // Keep an error listener: `ws` throws on an 'error' event that nobody listens to.
  socket.onerror = () => {};
  try {
    if (abrupt && typeof socket.terminate === 'function') socket.terminate();
    else socket.close(code, reason);
  } catch {
    // Closing a socket that is already closing or failed has nothing left to do.
  }
}
