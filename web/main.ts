import {
  type ConnectionState,
  type PresenceEvent,
  PushlineClient,
  type PushlineError,
  type PushlineMessage,
  PushlineServerError,
  topicMatches,
  topicNameProblem,
  topicPatternProblem,
  type UnreadCounts,
} from '../client/index.ts';
import { ConversationView } from './conversation-view.ts';
import { isUserMessage, renderMessage, setRead, sourceOf, summary } from './message-view.ts';
import { PreferencesView } from './preferences-view.ts';

/** Most messages kept on the page; older ones are dropped from view (the server keeps them). */
const MAX_MESSAGES = 500;
/** Most presence lines shown. */
const MAX_PRESENCE_LINES = 20;

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
  sessionNotice: $('session-notice'),
  joinedTopics: $('joined-topics'),
  noJoined: $('no-joined'),
  grantedTopics: $('granted-topics'),
  noGrants: $('no-grants'),
  topicResult: $('topic-result'),
  topicError: $('topic-error'),
  presence: $('presence'),
  presenceLog: $('presence-log'),
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

const conversations = new ConversationView({
  peerForm: $<HTMLFormElement>('peer-form'),
  peerUser: $<HTMLInputElement>('peer-user'),
  peerError: $('peer-error'),
  threads: $('threads'),
  noThreads: $('no-threads'),
  panel: $('thread-panel'),
  heading: $('thread-heading'),
  thread: $('thread'),
  threadEmpty: $('thread-empty'),
  chatForm: $<HTMLFormElement>('chat-form'),
  chatLabel: $<HTMLLabelElement>('chat-label'),
  chatText: $<HTMLTextAreaElement>('chat-text'),
  chatSend: $<HTMLButtonElement>('chat-send'),
  chatStatus: $('chat-status'),
  chatError: $('chat-error'),
});

const preferences = new PreferencesView({
  panel: $('preferences'),
  status: $('prefs-status'),
  error: $('prefs-error'),
  lists: { types: $('pref-types'), sources: $('pref-sources') },
  empty: { types: $('no-pref-types'), sources: $('no-pref-sources') },
  forms: {
    types: {
      form: $<HTMLFormElement>('pref-type-form'),
      input: $<HTMLInputElement>('pref-type-name'),
      error: $('pref-type-error'),
    },
    sources: {
      form: $<HTMLFormElement>('pref-source-form'),
      input: $<HTMLInputElement>('pref-source-name'),
      error: $('pref-source-error'),
    },
  },
});

let client: PushlineClient | undefined;
let currentUser: string | undefined;
let filter: string | undefined;
let unread: UnreadCounts = { total: 0, bySource: {} };
const entries = new Map<string, Entry>();
const sourceButtons = new Map<string | undefined, HTMLButtonElement>();
/** The topics the token grants: names, or prefixes ending in `*` (its `topics` claim). */
let grants: string[] = [];
/** Topics with a join or leave under way, so that their buttons wait. */
const busyTopics = new Set<string>();
/** Presence topics joined (their subscription said so). */
const presenceTopics = new Set<string>();
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

const fetchToken = async (userId: string) => {
  const { token } = await postJson<{ token: string }>('/api/token', { userId });
  // A renewed token may grant other topics.
  setGrants(topicsClaim(token));
  return token;
};

/**
 * The `topics` claim of a token (a list, or one space-separated string), read without checking the
 * signature: the page only shows it; the server decides with the verified token.
 */
function topicsClaim(token: string): string[] {
  try {
    const part = token.split('.')[1] ?? '';
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(
      Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0)),
    );
    const claim = (JSON.parse(json) as { topics?: unknown }).topics;
    const list = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim : [];
    return [
      ...new Set(
        list.filter((p): p is string => typeof p === 'string' && topicPatternProblem(p) === undefined),
      ),
    ];
  } catch {
    return [];
  }
}

const topicsKey = (userId: string) => `pushline.topics.${userId}`;

/** Topics this tab had joined before a reload. */
function savedTopics(userId: string): string[] {
  try {
    const list = JSON.parse(sessionStorage.getItem(topicsKey(userId)) ?? '[]') as unknown;
    return Array.isArray(list)
      ? list.filter((t): t is string => typeof t === 'string' && topicNameProblem(t) === undefined)
      : [];
  } catch {
    return [];
  }
}

// ---- session -------------------------------------------------------------------------------------

async function signIn(userId: string): Promise<void> {
  const firstToken = await fetchToken(userId); // Fails early, with the server's reason, for a bad id.
  let pending: string | undefined = firstToken;
  currentUser = userId;
  sessionStorage.setItem('pushline.user', userId);
  client = new PushlineClient({
    url: await config(),
    // Joined again after a reload; one the token no longer grants is refused and shown so.
    topics: savedTopics(userId),
    // A fresh token for every connection: reconnects after expiry just work.
    token: async () => {
      const token = pending ?? (await fetchToken(userId));
      pending = undefined;
      return token;
    },
  });
  const signedIn = client;
  conversations.start(userId, (message) => signedIn.send(message));
  conversations.setTopics(client.topics);
  preferences.start({ get: () => signedIn.getPrefs(), set: (change) => signedIn.setPrefs(change) });
  client.on('state', (state) => {
    showState(state);
    preferences.connection(state);
  });
  // Every prefs frame: this device's answers, another device's changes, a service's.
  client.on('prefs', (prefs) => preferences.accept(prefs));
  client.on('message', (message) => {
    onMessage(message);
    conversations.add(message);
  });
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
  client.on('error', (error) => {
    // A topic joined earlier and refused on a reconnect (the token no longer grants it).
    if (error.code === 'FORBIDDEN') showRefusal(error);
    // A refused preferences change whose answer no call was waiting for (see PreferencesView).
    if (error instanceof PushlineServerError && error.action === 'prefs') preferences.refused(error);
    console.warn(`pushline: ${error.code}: ${error.message}`);
  });
  client.on('topics', (topics) => {
    sessionStorage.setItem(topicsKey(userId), JSON.stringify(topics));
    renderTopics();
    conversations.setTopics(topics);
  });
  client.on('presence', showPresence);
  client.on('disconnected', ({ reason }) => {
    ui.sessionNotice.textContent = `The server ended this session${reason ? ` (${reason})` : ''}. Sign out and in again to reconnect.`;
    ui.sessionNotice.hidden = false;
    ui.connection.textContent = 'Disconnected by the server';
  });

  ui.signInSection.hidden = true;
  ui.center.hidden = false;
  ui.signOut.hidden = false;
  if (ui.publishTo.value.trim() === '') ui.publishTo.value = userId;
  showState('connecting');
  renderTopics();
  void client.connect();
  $('messages-heading').focus();
}

function signOut(): void {
  client?.close();
  client = undefined;
  if (currentUser !== undefined) sessionStorage.removeItem(topicsKey(currentUser));
  currentUser = undefined;
  sessionStorage.removeItem('pushline.user');
  entries.clear();
  ui.messages.replaceChildren();
  conversations.reset();
  preferences.reset();
  unread = { total: 0, bySource: {} };
  filter = undefined;
  renderSources();
  ui.gapNotice.hidden = true;
  ui.sessionNotice.hidden = true;
  grants = [];
  busyTopics.clear();
  presenceTopics.clear();
  ui.presenceLog.replaceChildren();
  ui.topicResult.textContent = '';
  ui.topicError.textContent = '';
  renderTopics();
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
  // Topic messages and broadcasts have no read state: nothing to mark, never counted.
  const entry: Entry = { message, element, read: message.read || !isUserMessage(message) };
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
  preferences.see(message);

  if (!message.replayed) {
    element.classList.add('fresh');
    // This user's own sent copies are not news to them.
    if (message.from !== currentUser) announce(message);
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
    const from =
      first?.topic !== undefined
        ? `in topic ${first.topic}`
        : `from ${first && (first.from ?? sourceOf(first))}`;
    line.textContent =
      batch.length === 1 && first
        ? `New message ${from}: ${first.type}. ${summary(first.data).text.slice(0, 140)}`
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

// ---- topics --------------------------------------------------------------------------------------

function setGrants(patterns: string[]): void {
  grants = patterns;
  renderTopics();
}

/** Renders the topics joined and the ones the token grants (a form for each prefix). */
function renderTopics(): void {
  const joined = client?.topics ?? [];
  const focused = document.activeElement;
  const focusKey = focused instanceof HTMLElement ? focused.dataset.focusKey : undefined;

  ui.joinedTopics.replaceChildren(
    ...joined.map((topic) => {
      const item = document.createElement('li');
      item.dataset.topic = topic;
      const name = document.createElement('span');
      name.className = 'topic-name';
      name.textContent = topic;
      if (presenceTopics.has(topic)) {
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = 'presence';
        name.append(tag);
      }
      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'secondary';
      leave.textContent = 'Leave';
      leave.setAttribute('aria-label', `Leave ${topic}`);
      leave.dataset.focusKey = `leave:${topic}`;
      leave.disabled = busyTopics.has(topic);
      leave.addEventListener('click', () => void leaveTopic(topic));
      item.append(name, leave);
      return item;
    }),
  );
  ui.noJoined.hidden = joined.length > 0;

  // Keep a prefix form's typing across re-renders.
  const typed = new Map<string, string>();
  for (const input of ui.grantedTopics.querySelectorAll<HTMLInputElement>('input[data-pattern]')) {
    typed.set(input.dataset.pattern ?? '', input.value);
  }
  ui.grantedTopics.replaceChildren(
    ...grants.map((pattern, index) => {
      const item = document.createElement('li');
      if (!pattern.endsWith('*')) {
        const name = document.createElement('span');
        name.className = 'topic-name';
        name.textContent = pattern;
        const join = document.createElement('button');
        join.type = 'button';
        const isJoined = joined.includes(pattern);
        join.textContent = isJoined ? 'Joined' : 'Join';
        join.setAttribute('aria-label', isJoined ? `${pattern} joined` : `Join ${pattern}`);
        join.dataset.focusKey = `join:${pattern}`;
        join.disabled = isJoined || busyTopics.has(pattern);
        join.addEventListener('click', () => void joinTopic(pattern));
        item.append(name, join);
        return item;
      }
      const prefix = pattern.slice(0, -1);
      const form = document.createElement('form');
      form.noValidate = true;
      const id = `topic-under-${index}`;
      const label = document.createElement('label');
      label.htmlFor = id;
      label.textContent = pattern === '*' ? 'Any topic' : `Topic under ${pattern}`;
      const row = document.createElement('div');
      row.className = 'row';
      const input = document.createElement('input');
      input.id = id;
      input.dataset.pattern = pattern;
      input.dataset.focusKey = `input:${pattern}`;
      input.spellcheck = false;
      input.autocomplete = 'off';
      input.value = typed.get(pattern) ?? prefix;
      input.setAttribute('aria-describedby', `${id}-error`);
      const join = document.createElement('button');
      join.type = 'submit';
      join.textContent = 'Join';
      join.setAttribute('aria-label', `Join a topic under ${pattern}`);
      join.dataset.focusKey = `join:${pattern}`;
      const problem = document.createElement('p');
      problem.id = `${id}-error`;
      problem.className = 'error';
      row.append(input, join);
      form.append(label, row, problem);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const topic = input.value.trim();
        const why =
          topicNameProblem(topic) ??
          (topicMatches(topic, [pattern]) ? undefined : `the name must start with "${prefix}"`);
        if (why === undefined) input.removeAttribute('aria-invalid');
        else input.setAttribute('aria-invalid', 'true');
        problem.textContent = why === undefined ? '' : `Cannot join: ${why}.`;
        if (why !== undefined) {
          input.focus();
          return;
        }
        void joinTopic(topic);
      });
      item.append(form);
      return item;
    }),
  );
  ui.noGrants.hidden = grants.length > 0 || client === undefined;
  if (focusKey !== undefined && focused instanceof HTMLElement && !focused.isConnected) {
    // Rebuilding removed the focused control: give focus to its replacement, or to the list.
    const replacement = document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`);
    (replacement && !(replacement as HTMLButtonElement).disabled ? replacement : $('topics-heading')).focus();
  }
}

async function joinTopic(topic: string): Promise<void> {
  if (!client) return;
  ui.topicError.textContent = '';
  ui.topicResult.textContent = `Joining ${topic}…`;
  busyTopics.add(topic);
  renderTopics();
  try {
    const subscription = await client.subscribe(topic);
    if (subscription.presence) presenceTopics.add(topic);
    ui.presence.hidden = presenceTopics.size === 0;
    ui.topicResult.textContent = `Joined ${topic}.`;
  } catch (error) {
    ui.topicResult.textContent = '';
    showRefusal(error as PushlineError, topic);
  } finally {
    busyTopics.delete(topic);
    renderTopics();
  }
}

async function leaveTopic(topic: string): Promise<void> {
  if (!client) return;
  ui.topicError.textContent = '';
  busyTopics.add(topic);
  renderTopics();
  try {
    await client.unsubscribe(topic);
    presenceTopics.delete(topic);
    ui.presence.hidden = presenceTopics.size === 0;
    ui.topicResult.textContent = `Left ${topic}.`;
  } catch (error) {
    ui.topicError.textContent = `Could not leave ${topic}: ${(error as Error).message}`;
  } finally {
    busyTopics.delete(topic);
    renderTopics();
  }
}

function showRefusal(error: PushlineError, topic?: string): void {
  const name = topic ?? (error instanceof PushlineServerError ? error.topic : undefined) ?? 'a topic';
  ui.topicError.textContent =
    error.code === 'FORBIDDEN'
      ? `Not allowed to join ${name}: your token does not grant it.`
      : `Could not join ${name}: ${error.message}`;
}

function showPresence(event: PresenceEvent): void {
  presenceTopics.add(event.topic);
  ui.presence.hidden = false;
  const line = document.createElement('li');
  const time = document.createElement('time');
  const when = new Date(event.ts);
  time.dateTime = Number.isNaN(when.getTime()) ? '' : when.toISOString();
  time.textContent = Number.isNaN(when.getTime()) ? '' : when.toLocaleTimeString();
  line.append(`${event.user} ${event.state === 'join' ? 'joined' : 'left'} ${event.topic} `, time);
  ui.presenceLog.prepend(line);
  while (ui.presenceLog.childElementCount > MAX_PRESENCE_LINES) ui.presenceLog.lastElementChild?.remove();
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
  // Inbox seqs only: topic and broadcast seqs belong to other sequences.
  const seqs = [...entries.values()]
    .filter(
      (entry) => !entry.element.hidden && entry.message.seq !== undefined && isUserMessage(entry.message),
    )
    .map((entry) => entry.message.seq as string)
    .sort();
  ui.loadOlder.disabled = true;
  try {
    const page = await client.history({
      ...(seqs[0] !== undefined ? { before: seqs[0] } : {}),
      ...(filter !== undefined ? { source: filter } : {}),
      limit: 50,
    });
    for (const message of page.messages) {
      onMessage(message);
      conversations.add(message);
    }
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
