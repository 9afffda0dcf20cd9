import {
  type OutgoingMessage,
  PushlineError,
  type PushlineMessage,
  PushlineServerError,
  type SentReceipt,
} from '../client/index.ts';

/** The message type of a conversation line. */
export const CHAT_TYPE = 'chat.text';

/** Most lines kept per thread on the page (the server keeps the messages themselves). */
const MAX_THREAD_LINES = 200;

/**
 * Most bytes of `data` the page sends. The gateway closes the socket on a frame over 128 KB (and
 * the client would send it again on the next connection), so a text that cannot fit is refused
 * here, with the same words as the server's TOO_LARGE.
 */
const MAX_DATA_BYTES = 120 * 1024;

/** Most own lines kept while waiting for their send's answer. */
const MAX_UNPLACED = 100;

/** Same rule as the console's user ids (local/console/server.ts). */
const USER_ID = /^[A-Za-z0-9._@+-]{1,128}$/;

/** Who a thread is with: another user, or a topic. */
export type Peer = { readonly user: string } | { readonly topic: string };

/** A map key for a peer; users and topics never collide. */
export function peerKey(peer: Peer): string {
  return 'user' in peer ? `user:${peer.user}` : `topic:${peer.topic}`;
}

/** How a peer is named on the page. */
export function peerLabel(peer: Peer): string {
  return 'user' in peer ? peer.user : `Topic ${peer.topic}`;
}

/** The `text` of a chat line's data, or undefined when it has none. */
export function chatText(data: unknown): string | undefined {
  const text = typeof data === 'object' && data !== null ? (data as { text?: unknown }).text : undefined;
  return typeof text === 'string' ? text : undefined;
}

/**
 * The thread a message belongs to, or undefined when it is no chat line for this user: a topic's
 * line goes to the topic; a line from another user to that user; this user's own copy to the
 * recipient its `send()` named (`sentTo`), else the `to` it carries in its data (the copy another
 * device of this user sent). A `to` in data is trusted on this user's own copies only.
 */
export function threadOf(
  message: PushlineMessage,
  me: string,
  sentTo: ReadonlyMap<string, string>,
): Peer | undefined {
  if (message.type !== CHAT_TYPE || message.broadcast) return undefined;
  if (message.topic !== undefined) return { topic: message.topic };
  if (message.from === undefined) return undefined;
  if (message.from !== me) return { user: message.from };
  const to = sentTo.get(message.id) ?? (message.data as { to?: unknown } | null)?.to;
  return typeof to === 'string' && to !== '' ? { user: to } : undefined;
}

/** Readable words for a refused or failed `send()`, by error code. */
export function refusalText(error: unknown, peer: Peer): string {
  const code =
    error instanceof PushlineServerError
      ? error.serverCode
      : error instanceof PushlineError
        ? error.code
        : undefined;
  const name = 'user' in peer ? peer.user : `topic ${peer.topic}`;
  switch (code) {
    case 'FORBIDDEN':
      return `Not allowed to write to ${name}: the deployment's rules or your token do not permit it.`;
    case 'RATE_LIMITED':
      return 'Too many messages at once. Wait a moment and send again; it will not be delivered twice.';
    case 'TOO_LARGE':
      return 'Too long to send: a message must fit 128 KB. Shorten it and send again.';
    case 'SEND_TIMEOUT':
      return 'No answer from the server in time. It may still arrive; send again to retry, it will not be delivered twice.';
    case 'CLOSED':
      return 'Not sent: you signed out.';
    case 'DISCONNECTED':
      return 'Not sent: the server ended this session.';
    case 'INVALID_SEND':
      return `Cannot send: ${(error as Error).message}.`;
    default:
      return `Not sent: ${error instanceof Error ? error.message : String(error)} Send again to retry.`;
  }
}

/** A random send id (`getRandomValues` works on plain-http pages too, unlike `randomUUID`). */
function newSendId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `chat-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** Oldest first: publish time, then seq, then id. */
function isOlder(a: PushlineMessage, b: PushlineMessage): boolean {
  if (a.ts !== b.ts) return a.ts < b.ts;
  if ((a.seq ?? '') !== (b.seq ?? '')) return (a.seq ?? '') < (b.seq ?? '');
  return a.id < b.id;
}

/** The elements of the conversation panel (web/index.html). */
export interface ConversationElements {
  readonly peerForm: HTMLFormElement;
  readonly peerUser: HTMLInputElement;
  readonly peerError: HTMLElement;
  readonly threads: HTMLElement;
  readonly noThreads: HTMLElement;
  readonly panel: HTMLElement;
  readonly heading: HTMLElement;
  readonly thread: HTMLElement;
  readonly threadEmpty: HTMLElement;
  readonly chatForm: HTMLFormElement;
  readonly chatLabel: HTMLLabelElement;
  readonly chatText: HTMLTextAreaElement;
  readonly chatSend: HTMLButtonElement;
  readonly chatStatus: HTMLElement;
  readonly chatError: HTMLElement;
}

/** A send kept after a refusal, so that sending the same text again reuses its id (delivered once). */
interface Retry {
  readonly key: string;
  readonly text: string;
  readonly id: string;
}

/**
 * The conversation panel: pick a user (typed) or a joined topic, read the thread of `chat.text`
 * lines with it, live, and write to it. Every text goes in through textContent.
 */
export class ConversationView {
  readonly #ui: ConversationElements;
  #me: string | undefined;
  #send: ((message: OutgoingMessage) => Promise<SentReceipt>) | undefined;
  /** Threads by peer key, each by message id. */
  readonly #threads = new Map<string, { peer: Peer; lines: Map<string, PushlineMessage> }>();
  /** The recipient of each message this page sent, by the id it carries (from the send's answer). */
  readonly #sentTo = new Map<string, string>();
  /** This user's own lines that named no recipient, waiting for their send's answer. */
  readonly #unplaced = new Map<string, PushlineMessage>();
  #topics: readonly string[] = [];
  #open: Peer | undefined;
  /** Typed text per peer, kept while switching threads. */
  readonly #drafts = new Map<string, string>();
  #retry: Retry | undefined;
  #sending = false;

  constructor(ui: ConversationElements) {
    this.#ui = ui;
    ui.peerForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#openTyped();
    });
    ui.chatForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
    ui.chatText.addEventListener('keydown', (event) => {
      // Enter sends, Shift+Enter starts a new line (and IME composition is left alone).
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.chatForm.requestSubmit();
      }
    });
    this.#render();
  }

  /** Starts the panel for a signed-in user; `send` is the client's. */
  start(me: string, send: (message: OutgoingMessage) => Promise<SentReceipt>): void {
    this.reset();
    this.#me = me;
    this.#send = send;
  }

  /** Forgets everything (sign-out). */
  reset(): void {
    this.#me = undefined;
    this.#send = undefined;
    this.#threads.clear();
    this.#sentTo.clear();
    this.#unplaced.clear();
    this.#drafts.clear();
    this.#topics = [];
    this.#open = undefined;
    this.#retry = undefined;
    this.#ui.peerUser.value = '';
    this.#ui.peerError.textContent = '';
    this.#ui.chatText.value = '';
    this.#ui.chatStatus.textContent = '';
    this.#ui.chatError.textContent = '';
    this.#render();
  }

  /** The topics the client has joined: each is a thread one can open. */
  setTopics(topics: readonly string[]): void {
    this.#topics = topics;
    this.#renderThreads();
  }

  /** Takes a message; a chat line goes to its thread (and shows at once when it is open). */
  add(message: PushlineMessage): void {
    if (this.#me === undefined) return;
    const peer = threadOf(message, this.#me, this.#sentTo);
    if (peer === undefined) {
      if (message.type === CHAT_TYPE && message.from === this.#me && message.topic === undefined) {
        this.#unplaced.set(message.id, message);
        if (this.#unplaced.size > MAX_UNPLACED) {
          const oldest = this.#unplaced.keys().next().value;
          if (oldest !== undefined) this.#unplaced.delete(oldest);
        }
      }
      return;
    }
    const key = peerKey(peer);
    let thread = this.#threads.get(key);
    const isNewThread = thread === undefined;
    if (!thread) {
      thread = { peer, lines: new Map() };
      this.#threads.set(key, thread);
    }
    if (thread.lines.has(message.id)) return;
    thread.lines.set(message.id, message);
    if (thread.lines.size > MAX_THREAD_LINES) {
      const oldest = [...thread.lines.values()].reduce((a, b) => (isOlder(a, b) ? a : b));
      thread.lines.delete(oldest.id);
      this.#ui.thread.querySelector(`[data-id="${CSS.escape(oldest.id)}"]`)?.remove();
    }
    if (isNewThread) this.#renderThreads();
    if (this.#open !== undefined && peerKey(this.#open) === key) this.#insertLine(message);
  }

  /** Opens the thread with a peer. */
  open(peer: Peer): void {
    if (this.#open !== undefined) this.#drafts.set(peerKey(this.#open), this.#ui.chatText.value);
    this.#open = peer;
    const key = peerKey(peer);
    if (!this.#threads.has(key)) this.#threads.set(key, { peer, lines: new Map() });
    this.#ui.chatText.value = this.#drafts.get(key) ?? '';
    this.#ui.chatError.textContent = '';
    this.#ui.chatStatus.textContent = '';
    this.#render();
    this.#ui.chatText.focus();
  }

  #openTyped(): void {
    const user = this.#ui.peerUser.value.trim();
    const problem =
      user === ''
        ? 'Type the user id to write to.'
        : USER_ID.test(user)
          ? undefined
          : 'A user id is 1 to 128 letters, digits or . _ @ + -.';
    this.#ui.peerError.textContent = problem ?? '';
    if (problem !== undefined) {
      this.#ui.peerUser.setAttribute('aria-invalid', 'true');
      this.#ui.peerUser.focus();
      return;
    }
    this.#ui.peerUser.removeAttribute('aria-invalid');
    this.#ui.peerUser.value = '';
    this.open({ user });
  }

  async #submit(): Promise<void> {
    const peer = this.#open;
    const send = this.#send;
    if (peer === undefined || send === undefined || this.#sending) return;
    const typed = this.#ui.chatText.value;
    const text = typed.trim();
    this.#ui.chatError.textContent = '';
    this.#ui.chatError.removeAttribute('data-code');
    if (text === '') {
      this.#ui.chatError.textContent = 'Write something first.';
      this.#ui.chatText.focus();
      return;
    }
    const key = peerKey(peer);
    const to = 'user' in peer ? peer.user : peer.topic;
    const data = { text, to };
    if (new TextEncoder().encode(JSON.stringify(data)).length > MAX_DATA_BYTES) {
      this.#refused(peer, new PushlineServerError('TOO_LARGE', 'checked before sending', 'send'));
      return;
    }
    // The same text to the same peer after a refusal or a timeout is the same message: its id again.
    const retry = this.#retry;
    const id = retry !== undefined && retry.key === key && retry.text === text ? retry.id : newSendId();
    this.#retry = { key, text, id };
    this.#sending = true;
    this.#ui.chatSend.disabled = true;
    this.#ui.chatStatus.textContent = 'Sending…';
    try {
      const receipt = await send({
        to: 'user' in peer ? { user: peer.user } : { topic: peer.topic },
        type: CHAT_TYPE,
        data,
        id,
      });
      if (this.#me === undefined) return; // Signed out meanwhile.
      this.#retry = undefined;
      if ('user' in peer) this.#placeSent(receipt.messageId, peer.user);
      // Clear what was sent only: text typed meanwhile (or in another thread) stays.
      if (this.#open !== undefined && peerKey(this.#open) === key) {
        if (this.#ui.chatText.value === typed) this.#ui.chatText.value = '';
        this.#ui.chatStatus.textContent = 'Sent.';
      } else if (this.#drafts.get(key) === typed) {
        this.#drafts.delete(key);
      }
    } catch (error) {
      if (this.#me === undefined) return;
      this.#refused(peer, error);
    } finally {
      this.#sending = false;
      this.#ui.chatSend.disabled = false;
    }
  }

  /** Shows why a send failed, next to the box; the typed text stays where it is. */
  #refused(peer: Peer, error: unknown): void {
    const code =
      error instanceof PushlineServerError
        ? error.serverCode
        : error instanceof PushlineError
          ? error.code
          : 'ERROR';
    const sameThread = this.#open !== undefined && peerKey(this.#open) === peerKey(peer);
    this.#ui.chatStatus.textContent = '';
    this.#ui.chatError.dataset.code = code;
    this.#ui.chatError.textContent = sameThread
      ? refusalText(error, peer)
      : `${peerLabel(peer)}: ${refusalText(error, peer)}`;
  }

  /** The send's answer names the message id: place this user's copy if it came first. */
  #placeSent(messageId: string, user: string): void {
    this.#sentTo.set(messageId, user);
    while (this.#sentTo.size > 1000) {
      const oldest = this.#sentTo.keys().next().value;
      if (oldest === undefined) break;
      this.#sentTo.delete(oldest);
    }
    const waiting = this.#unplaced.get(messageId);
    if (waiting) {
      this.#unplaced.delete(messageId);
      this.add(waiting);
    }
  }

  #render(): void {
    this.#renderThreads();
    const peer = this.#open;
    this.#ui.panel.hidden = peer === undefined;
    if (peer === undefined) {
      this.#ui.thread.replaceChildren();
      return;
    }
    this.#ui.heading.textContent = 'user' in peer ? `Conversation with ${peer.user}` : `Topic ${peer.topic}`;
    this.#ui.chatLabel.textContent = `Message to ${'user' in peer ? peer.user : peer.topic}`;
    this.#ui.thread.replaceChildren();
    const lines = [...(this.#threads.get(peerKey(peer))?.lines.values() ?? [])];
    for (const line of lines.sort((a, b) => (isOlder(a, b) ? -1 : 1))) {
      this.#ui.thread.append(this.#line(line));
    }
    this.#ui.threadEmpty.hidden = lines.length > 0;
  }

  #renderThreads(): void {
    const peers = new Map<string, Peer>();
    for (const [key, thread] of this.#threads) peers.set(key, thread.peer);
    for (const topic of this.#topics) peers.set(peerKey({ topic }), { topic });
    const openKey = this.#open === undefined ? undefined : peerKey(this.#open);
    const focusedKey =
      document.activeElement instanceof HTMLElement &&
      this.#ui.threads.contains(document.activeElement) &&
      document.activeElement.dataset.peer;
    this.#ui.threads.replaceChildren(
      ...[...peers]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, peer]) => {
          const item = document.createElement('li');
          const button = document.createElement('button');
          button.type = 'button';
          button.className = 'secondary';
          button.dataset.peer = key;
          button.textContent = peerLabel(peer);
          button.setAttribute('aria-pressed', String(key === openKey));
          button.addEventListener('click', () => this.open(peer));
          item.append(button);
          return item;
        }),
    );
    this.#ui.noThreads.hidden = peers.size > 0;
    if (focusedKey) {
      this.#ui.threads.querySelector<HTMLElement>(`[data-peer="${CSS.escape(focusedKey)}"]`)?.focus();
    }
  }

  #insertLine(message: PushlineMessage): void {
    const element = this.#line(message);
    // Most lines are the newest: the scan from the end stops at once.
    let after = this.#ui.thread.lastElementChild as HTMLElement | null;
    while (after) {
      const other = this.#lineMessage(after);
      if (!other || isOlder(other, message)) break;
      after = after.previousElementSibling as HTMLElement | null;
    }
    if (after) after.after(element);
    else this.#ui.thread.prepend(element);
    this.#ui.threadEmpty.hidden = true;
    if (!message.replayed) element.classList.add('fresh');
    element.scrollIntoView({ block: 'nearest' });
  }

  #lineMessage(element: HTMLElement): PushlineMessage | undefined {
    const peer = this.#open;
    if (peer === undefined) return undefined;
    return this.#threads.get(peerKey(peer))?.lines.get(element.dataset.id ?? '');
  }

  /** One line of a thread: who, when, and the text, through textContent only. */
  #line(message: PushlineMessage): HTMLLIElement {
    const mine = message.from === this.#me;
    const item = document.createElement('li');
    item.className = 'chat-line';
    item.dataset.id = message.id;
    item.dataset.mine = String(mine);
    const who = document.createElement('span');
    who.className = 'chat-from';
    who.textContent = mine ? 'You' : (message.from ?? 'unknown');
    const time = document.createElement('time');
    const when = new Date(message.ts);
    time.dateTime = Number.isNaN(when.getTime()) ? '' : when.toISOString();
    time.textContent = Number.isNaN(when.getTime()) ? '' : when.toLocaleTimeString();
    const head = document.createElement('p');
    head.className = 'chat-meta';
    head.append(who, ' · ', time);
    const body = document.createElement('p');
    body.className = 'chat-text';
    body.textContent = chatText(message.data) ?? JSON.stringify(message.data) ?? '';
    item.append(head, body);
    return item;
  }
}
