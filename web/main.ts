import {
  type ConnectionState,
  PushlineClient,
  type PushlineMessage,
  type UnreadCounts,
} from '../client/index.ts';
import { renderMessage, setRead, sourceOf, summary } from './message-view.ts';

/** Most messages kept on the page; older ones are dropped from view (the server keeps them). */
const MAX_MESSAGES = 500;

interface Entry {
  readonly message: PushlineMessage;
  readonly element: HTMLLIElement;
  read: boolean;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`The page has no #${id}.`);
  return element as T;
};

const ui = {
  connection: $('connection'),
  signOut: $<HTMLButtonElement>('sign-out'),
  signInSection: $('sign-in'),
  signInForm: $<HTMLFormElement>('sign-in-form'),
  userId: $<HTMLInputElement>('user-id'),
  signInError: $('sign-in-error'),
  center: $('center'),
  sources: $('sources'),
  messages: $('messages'),
  empty: $('empty'),
  gapNotice: $('gap-notice'),
  markAll: $<HTMLButtonElement>('mark-all'),
  loadOlder: $<HTMLButtonElement>('load-older'),
  publishForm: $<HTMLFormElement>('publish-form'),
  publishTo: $<HTMLInputElement>('publish-to'),
  publishType: $<HTMLInputElement>('publish-type'),
  publishSource: $<HTMLInputElement>('publish-source'),
  publishData: $<HTMLTextAreaElement>('publish-data'),
  publishPersist: $<HTMLInputElement>('publish-persist'),
  publishResult: $('publish-result'),
  announcer: $('announcer'),
};

let client: PushlineClient | undefined;
let currentUser: string | undefined;
let filter: string | undefined;
let unread: UnreadCounts = { total: 0, bySource: {} };
const entries = new Map<string, Entry>();
const sourceButtons = new Map<string | undefined, HTMLButtonElement>();
let webSocketUrl: Promise<string> | undefined;

// ---- server calls --------------------------------------------------------------------------------

async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!response.ok) throw new Error(answer.error?.message ?? `${path} answered ${response.status}`);
  return answer;
}

function config(): Promise<string> {
  webSocketUrl ??= fetch('/config.json')
    .then((response) => {
      if (!response.ok) throw new Error(`The console answered ${response.status} for its configuration.`);
      return response.json() as Promise<{ webSocketUrl: string }>;
    })
    .then((body) => body.webSocketUrl)
    .catch((error: unknown) => {
      webSocketUrl = undefined; // Ask again on the next sign-in rather than keep the failure.
      throw error;
    });
  return webSocketUrl;
}

const fetchToken = async (userId: string) =>
  (await postJson<{ token: string }>('/api/token', { userId })).token;

// ---- session -------------------------------------------------------------------------------------

async function signIn(userId: string): Promise<void> {
  const firstToken = await fetchToken(userId); // Fails early, with the server's reason, for a bad id.
  let pending: string | undefined = firstToken;
  currentUser = userId;
  sessionStorage.setItem('pushline.user', userId);
  client = new PushlineClient({
    url: await config(),
    // A fresh token for every connection: reconnects after expiry just work.
    token: async () => {
      const token = pending ?? (await fetchToken(userId));
      pending = undefined;
      return token;
    },
  });
  client.on('state', showState);
  client.on('message', onMessage);
  client.on('unread', (counts) => {
    unread = counts;
    renderSources();
  });
  client.on('read', ({ ids }) => {
    for (const id of ids) markReadLocally(id);
  });
  client.on('gap', () => {
    ui.gapNotice.textContent =
      'Some messages sent while you were away are no longer kept and cannot be shown.';
    ui.gapNotice.hidden = false;
  });
  client.on('error', (error) => console.warn(`pushline: ${error.code}: ${error.message}`));

  ui.signInSection.hidden = true;
  ui.center.hidden = false;
  ui.signOut.hidden = false;
  if (ui.publishTo.value.trim() === '') ui.publishTo.value = userId;
  showState('connecting');
  void client.connect();
  $('messages-heading').focus();
}

function signOut(): void {
  client?.close();
  client = undefined;
  currentUser = undefined;
  sessionStorage.removeItem('pushline.user');
  entries.clear();
  ui.messages.replaceChildren();
  unread = { total: 0, bySource: {} };
  filter = undefined;
  renderSources();
  ui.gapNotice.hidden = true;
  ui.center.hidden = true;
  ui.signOut.hidden = true;
  ui.signInSection.hidden = false;
  ui.publishTo.value = '';
  showState('closed');
  ui.userId.focus();
}

function showState(state: ConnectionState): void {
  ui.connection.dataset.state = state;
  ui.connection.textContent = {
    connecting: 'Connecting…',
    open: `Connected as ${currentUser ?? ''}`,
    reconnecting: 'Connection lost, reconnecting…',
    closed: 'Signed out',
  }[state];
}

// ---- messages ------------------------------------------------------------------------------------

/** Newest first: publish time, then seq, then id. */
function isNewer(a: PushlineMessage, b: PushlineMessage): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if ((a.seq ?? '') !== (b.seq ?? '')) return (a.seq ?? '') > (b.seq ?? '');
  return a.id > b.id;
}

function onMessage(message: PushlineMessage): void {
  if (entries.has(message.id)) return;
  const element = renderMessage(message, () => markRead([message.id]));
  const entry: Entry = { message, element, read: message.read };
  entries.set(message.id, entry);
  setRead(element, entry.read);
  element.hidden = filter !== undefined && sourceOf(message) !== filter;

  // Most messages are the newest: the scan stops at the first element.
  let before: Element | null = ui.messages.firstElementChild;
  while (before) {
    const other = entries.get((before as HTMLElement).dataset.id ?? '');
    if (!other || isNewer(message, other.message)) break;
    before = before.nextElementSibling;
  }
  ui.messages.insertBefore(element, before);

  if (!message.replayed) {
    element.classList.add('fresh');
    announce(message);
  }
  while (entries.size > MAX_MESSAGES) {
    const oldest = ui.messages.lastElementChild as HTMLElement | null;
    if (!oldest) break;
    entries.delete(oldest.dataset.id ?? '');
    oldest.remove();
  }
  renderSources();
}

function markRead(ids: string[]): void {
  const unreadIds = ids.filter((id) => entries.get(id)?.read === false);
  if (unreadIds.length === 0) return;
  for (const id of unreadIds) markReadLocally(id);
  // The server answers every device of the user (this one too) with the new counts.
  client?.ack(unreadIds);
}

function markReadLocally(id: string): void {
  const entry = entries.get(id);
  if (!entry || entry.read) return;
  entry.read = true;
  setRead(entry.element, true);
  updateEmptyState();
}

let pendingAnnouncements: PushlineMessage[] = [];
let announceTimer: ReturnType<typeof setTimeout> | undefined;

/** New live messages for screen readers, batched so that a burst is one sentence. */
function announce(message: PushlineMessage): void {
  pendingAnnouncements.push(message);
  if (announceTimer !== undefined) return;
  announceTimer = setTimeout(() => {
    const batch = pendingAnnouncements;
    pendingAnnouncements = [];
    announceTimer = undefined;
    const line = document.createElement('p');
    const first = batch[0];
    line.textContent =
      batch.length === 1 && first
        ? `New message from ${sourceOf(first)}: ${first.type}. ${summary(first.data).text.slice(0, 140)}`
        : `${batch.length} new messages.`;
    ui.announcer.append(line);
    while (ui.announcer.childElementCount > 3) ui.announcer.firstElementChild?.remove();
  }, 400);
}

// ---- sources and counts --------------------------------------------------------------------------

function renderSources(): void {
  const names = new Set(Object.keys(unread.bySource));
  for (const entry of entries.values()) names.add(sourceOf(entry.message));
  const wanted: (string | undefined)[] = [undefined, ...[...names].sort()];
  const same = wanted.length === sourceButtons.size && wanted.every((name) => sourceButtons.has(name));
  if (!same) {
    const focused = [...sourceButtons.entries()].find(([, button]) => button === document.activeElement);
    sourceButtons.clear();
    ui.sources.replaceChildren(
      ...wanted.map((name) => {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        const label = document.createElement('span');
        label.textContent = name ?? 'All';
        const count = document.createElement('span');
        count.className = 'count';
        button.append(label, count);
        button.addEventListener('click', () => setFilter(name));
        sourceButtons.set(name, button);
        item.append(button);
        return item;
      }),
    );
    // Rebuilding removed the focused button: give focus to its replacement.
    if (focused) sourceButtons.get(focused[0])?.focus();
  }
  for (const [name, button] of sourceButtons) {
    const value = name === undefined ? unread.total : (unread.bySource[name] ?? 0);
    const count = button.querySelector('.count') as HTMLElement;
    count.textContent = String(value);
    count.classList.toggle('has-unread', value > 0);
    button.setAttribute('aria-pressed', String(filter === name));
    button.setAttribute('aria-label', `${name ?? 'All sources'}: ${value} unread`);
    button.dataset.source = name ?? '';
  }
  document.title = unread.total > 0 ? `(${unread.total}) Pushline message center` : 'Pushline message center';
  updateEmptyState();
}

function setFilter(name: string | undefined): void {
  filter = name;
  ui.loadOlder.disabled = false;
  ui.loadOlder.textContent = 'Load older messages';
  for (const entry of entries.values()) {
    entry.element.hidden = filter !== undefined && sourceOf(entry.message) !== filter;
  }
  renderSources();
}

function updateEmptyState(): void {
  const visible = [...entries.values()].filter((entry) => !entry.element.hidden);
  ui.empty.hidden = visible.length > 0;
  ui.markAll.disabled = !visible.some((entry) => !entry.read);
}

// ---- forms ---------------------------------------------------------------------------------------

ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const userId = ui.userId.value.trim();
  ui.signInError.textContent = '';
  ui.userId.removeAttribute('aria-invalid');
  if (!ui.userId.checkValidity() || userId === '') {
    ui.userId.setAttribute('aria-invalid', 'true');
    ui.signInError.textContent = 'Enter a user id: letters, digits or . _ @ + - (up to 128).';
    ui.userId.focus();
    return;
  }
  signIn(userId).catch((error: Error) => {
    ui.userId.setAttribute('aria-invalid', 'true');
    ui.signInError.textContent = `Could not sign in: ${error.message}`;
  });
});

ui.signOut.addEventListener('click', signOut);

ui.loadOlder.addEventListener('click', async () => {
  if (!client) return;
  // The oldest stored message shown (of the chosen source): the server pages on from there.
  const seqs = [...entries.values()]
    .filter((entry) => !entry.element.hidden && entry.message.seq !== undefined)
    .map((entry) => entry.message.seq as string)
    .sort();
  ui.loadOlder.disabled = true;
  try {
    const page = await client.history({
      ...(seqs[0] !== undefined ? { before: seqs[0] } : {}),
      ...(filter !== undefined ? { source: filter } : {}),
      limit: 50,
    });
    for (const message of page.messages) onMessage(message);
    ui.loadOlder.textContent = page.more ? 'Load older messages' : 'No older messages';
    ui.loadOlder.disabled = !page.more;
  } catch (error) {
    ui.loadOlder.disabled = false;
    console.warn(`pushline: could not load older messages: ${(error as Error).message}`);
  }
});

ui.markAll.addEventListener('click', () => {
  // The server marks every unread message of the chosen source, loaded here or not; the page
  // shows it at once for the messages it holds.
  for (const entry of entries.values()) if (!entry.element.hidden) markReadLocally(entry.message.id);
  client?.ackAll(filter === undefined ? {} : { source: filter });
});

ui.publishForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const result = ui.publishResult;
  result.classList.remove('error');
  ui.publishData.removeAttribute('aria-invalid');
  let data: unknown;
  try {
    data = JSON.parse(ui.publishData.value);
  } catch (error) {
    ui.publishData.setAttribute('aria-invalid', 'true');
    result.classList.add('error');
    result.textContent = `Data is not valid JSON: ${(error as Error).message}`;
    ui.publishData.focus();
    return;
  }
  const body = {
    to: ui.publishTo.value,
    type: ui.publishType.value,
    source: ui.publishSource.value,
    data,
    persist: ui.publishPersist.checked,
  };
  result.textContent = 'Publishing…';
  postJson<{ messageId: string }>('/api/publish', body).then(
    (answer) => {
      result.textContent = `Published message ${answer.messageId}.`;
    },
    (error: Error) => {
      result.classList.add('error');
      result.textContent = `Not published: ${error.message}`;
    },
  );
});

// Sign in again after a reload (per tab), or straight from `?user=alice`.
const initialUser =
  new URLSearchParams(location.search).get('user') ?? sessionStorage.getItem('pushline.user');
if (initialUser) {
  ui.userId.value = initialUser;
  signIn(initialUser).catch((error: Error) => {
    ui.signInError.textContent = `Could not sign in: ${error.message}`;
  });
} else {
  renderSources();
}
