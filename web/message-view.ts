import { DEFAULT_SOURCE, type PushlineMessage } from '../client/index.ts';

/** The counter key of a message's source, as the server counts it. */
export function sourceOf(message: PushlineMessage): string {
  return message.source ?? DEFAULT_SOURCE;
}

/** A short human text for a message: its `text`/`title`/`body`/`message` field, else its JSON. */
export function summary(data: unknown): { text: string; isJson: boolean } {
  if (typeof data === 'string') return { text: data, isJson: false };
  if (typeof data === 'object' && data !== null) {
    for (const key of ['text', 'title', 'body', 'message']) {
      const value = (data as Record<string, unknown>)[key];
      if (typeof value === 'string') return { text: value, isJson: false };
    }
  }
  const json = JSON.stringify(data, null, 2) ?? String(data);
  return { text: json.length > 2000 ? `${json.slice(0, 2000)}…` : json, isJson: true };
}

/** Whether a message is the user's own (it has a read state), not a topic message or a broadcast. */
export function isUserMessage(message: PushlineMessage): boolean {
  return message.topic === undefined && message.broadcast !== true;
}

let counter = 0;

/**
 * The list item of one message; text goes in through textContent only, so data cannot inject markup.
 * Topic messages and broadcasts are marked as such and have no read state (nothing to mark).
 */
export function renderMessage(message: PushlineMessage, onMarkRead: () => void): HTMLLIElement {
  const id = `message-${++counter}`;
  const item = document.createElement('li');
  item.className = 'message';
  item.dataset.id = message.id;
  item.dataset.kind = message.topic !== undefined ? 'topic' : message.broadcast ? 'broadcast' : 'user';
  if (message.topic !== undefined) item.dataset.topic = message.topic;
  item.tabIndex = -1; // Focus lands here after its "Mark as read" button goes away.

  const article = document.createElement('article');
  article.setAttribute('aria-labelledby', `${id}-title`);

  const head = document.createElement('div');
  head.className = 'message-head';
  const title = document.createElement('h3');
  title.id = `${id}-title`;
  title.textContent = message.type;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = 'Unread';
  title.append(' ', badge);
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'mark-read';
  button.textContent = 'Mark as read';
  button.setAttribute('aria-label', `Mark "${message.type}" from ${sourceOf(message)} as read`);
  button.addEventListener('click', onMarkRead);
  if (isUserMessage(message)) head.append(title, button);
  else head.append(title);

  const meta = document.createElement('p');
  meta.className = 'meta';
  const time = document.createElement('time');
  const when = new Date(message.ts);
  time.dateTime = Number.isNaN(when.getTime()) ? '' : when.toISOString();
  time.textContent = Number.isNaN(when.getTime()) ? 'unknown time' : when.toLocaleString();
  if (message.topic !== undefined || message.broadcast) {
    const where = document.createElement('span');
    where.className = 'message-topic';
    where.textContent = message.topic !== undefined ? `Topic ${message.topic}` : 'Broadcast';
    meta.append(where, ' · ');
  }
  if (message.from !== undefined) meta.append(`From ${message.from} · `);
  meta.append(`${sourceOf(message)} · `, time);

  const { text, isJson } = summary(message.data);
  const body = document.createElement(isJson ? 'pre' : 'p');
  body.className = 'body';
  body.textContent = text;

  article.append(head, meta, body);
  item.append(article);
  return item;
}

/** Shows a message as read or unread. */
export function setRead(item: HTMLElement, read: boolean): void {
  item.dataset.read = String(read);
  const badge = item.querySelector<HTMLElement>('.badge');
  if (badge) badge.hidden = read;
  const button = item.querySelector<HTMLButtonElement>('button.mark-read');
  if (button) {
    // Keep keyboard users in place: focus moves to the item before its button disappears.
    if (read && document.activeElement === button) item.focus();
    button.hidden = read;
  }
}
