import {
  type ConnectionState,
  type PreferencesUpdate,
  PushlineError,
  type PushlineMessage,
  PushlineServerError,
  type UserPreferences,
} from '../client/index.ts';
import { isUserMessage } from './message-view.ts';

/** What a switch mutes: message types or sources (the lists of a preferences change). */
export type PreferenceKind = 'types' | 'sources';

/** Longest type or source name the server accepts (functions/shared/envelope.ts). */
const MAX_NAME_LENGTH = 128;

/** Most names listed per kind; muted ones are always listed (the server keeps at most 200). */
const MAX_LISTED = 200;

const KINDS: readonly PreferenceKind[] = ['types', 'sources'];

/** "type" or "source", as the page names one name of that kind. */
const kindWord = (kind: PreferenceKind) => (kind === 'types' ? 'type' : 'source');

const keyOf = (kind: PreferenceKind, name: string) => `${kind}:${name}`;

/** One request to the server, made one at a time (see PreferencesView). */
type Request =
  | { readonly type: 'get' }
  | {
      readonly type: 'set';
      readonly kind: PreferenceKind;
      readonly name: string;
      readonly mute: boolean;
      /** Its promise was settled by another device's `prefs` frame: the server's own answer is still to come. */
      awaiting?: boolean;
      /** A refusal of a `prefs` frame that reached no waiting call while this one was under way. */
      stray?: PushlineServerError;
    };
type SetRequest = Extract<Request, { type: 'set' }>;

/** A switch of the panel. */
interface Row {
  readonly kind: PreferenceKind;
  readonly name: string;
  readonly item: HTMLLIElement;
  readonly input: HTMLInputElement;
  readonly note: HTMLElement;
  readonly error: HTMLElement;
}

/** The readable words for a change that did not go through, by error class and code. */
export function refusalText(error: unknown, mute: boolean): string {
  const verb = mute ? 'Not muted' : 'Not unmuted';
  if (error instanceof PushlineServerError) {
    // The server's own words (e.g. `type "security" cannot be muted (mandatory)`).
    const text = error.message.trim() || error.serverCode;
    return `${verb}: ${text}${/[.!?]$/.test(text) ? '' : '.'}`;
  }
  const code = error instanceof PushlineError ? error.code : undefined;
  switch (code) {
    case 'PREFS_TIMEOUT':
      return `${verb}: no answer from the server in time. Try again.`;
    case 'NOT_CONNECTED':
      return `${verb}: not connected. Try again once connected.`;
    default:
      return `${verb}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The elements of the preferences panel (web/index.html). */
export interface PreferenceElements {
  readonly panel: HTMLElement;
  readonly status: HTMLElement;
  readonly error: HTMLElement;
  readonly lists: Readonly<Record<PreferenceKind, HTMLElement>>;
  readonly empty: Readonly<Record<PreferenceKind, HTMLElement>>;
  readonly forms: Readonly<
    Record<PreferenceKind, { form: HTMLFormElement; input: HTMLInputElement; error: HTMLElement }>
  >;
}

/** The client calls the panel makes. */
export interface PreferenceRequests {
  readonly get: () => Promise<UserPreferences>;
  readonly set: (change: PreferencesUpdate) => Promise<UserPreferences>;
}

/**
 * The preferences panel: a switch per message type and source the user has seen (or typed in), on
 * when it is muted. A toggle is pending until the server's `prefs` answer; a refusal is shown next
 * to the switch and the switch goes back. Every `prefs` frame (this device's answers, another
 * device's changes, a service's) is passed to `accept` and the newest one is shown.
 *
 * Requests go one at a time. The SDK hands each `prefs` frame to the oldest waiting call, and two
 * frames sent together run in two Lambda invocations that may answer in either order; with one
 * request under way, only another device's frame can settle it early, and then the newest
 * preferences (or a refusal arriving as an `error` event) tell when the server answered this one.
 */
export class PreferencesView {
  readonly #ui: PreferenceElements;
  #requests: PreferenceRequests | undefined;
  /** Bumped on every reset, so that answers for an earlier session are dropped. */
  #session = 0;
  /** The newest preferences the server sent (highest version). */
  #prefs: UserPreferences | undefined;
  /** Names seen in messages or typed in, per kind. */
  readonly #names: Record<PreferenceKind, Set<string>> = { types: new Set(), sources: new Set() };
  readonly #rows = new Map<string, Row>();
  /** Switches waiting for the server, with the state asked for (true: muted). */
  readonly #pending = new Map<string, boolean>();
  /** Why the last change of a switch did not go through. */
  readonly #errors = new Map<string, { code: string; text: string }>();
  readonly #queue: Request[] = [];
  #inFlight: Request | undefined;
  #rowCounter = 0;

  constructor(ui: PreferenceElements) {
    this.#ui = ui;
    for (const kind of KINDS) {
      const { form } = ui.forms[kind];
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.#addTyped(kind);
      });
    }
    this.reset();
  }

  /** Starts the panel for a signed-in user, with the client's calls. */
  start(requests: PreferenceRequests): void {
    this.reset();
    this.#requests = requests;
    this.#ui.status.textContent = 'Loading preferences…';
  }

  /** Forgets everything (sign-out). */
  reset(): void {
    this.#session++;
    this.#requests = undefined;
    this.#prefs = undefined;
    for (const kind of KINDS) {
      this.#names[kind].clear();
      this.#ui.lists[kind].replaceChildren();
      this.#ui.forms[kind].input.value = '';
      this.#ui.forms[kind].input.removeAttribute('aria-invalid');
      this.#ui.forms[kind].error.textContent = '';
    }
    this.#rows.clear();
    this.#pending.clear();
    this.#errors.clear();
    this.#queue.length = 0;
    this.#inFlight = undefined;
    this.#ui.status.textContent = '';
    this.#ui.error.textContent = '';
    delete this.#ui.panel.dataset.loaded;
    this.#render();
  }

  /** Lists the type and source of a message for this user (topic messages and broadcasts are never muted). */
  see(message: PushlineMessage): void {
    if (!isUserMessage(message)) return;
    this.#add('types', message.type);
    // A message without a source cannot be muted by source: the server matches `source` only.
    if (message.source !== undefined) this.#add('sources', message.source);
  }

  /** Takes a `prefs` frame; an older one than the newest already taken changes nothing. */
  accept(prefs: UserPreferences): void {
    if (this.#requests === undefined) return;
    if (this.#prefs === undefined || prefs.version >= this.#prefs.version) this.#prefs = prefs;
    this.#ui.panel.dataset.loaded = 'true';
    this.#ui.panel.dataset.version = String(this.#prefs.version);
    if (this.#ui.status.textContent === 'Loading preferences…') this.#ui.status.textContent = '';
    for (const kind of KINDS) for (const name of this.#prefs.muted[kind]) this.#add(kind, name);
    const request = this.#inFlight;
    if (request?.type === 'set' && request.awaiting && this.#reflects(request)) this.#settle(request);
    this.#render();
  }

  /** The connection changed: ask for the preferences on every (re)connection, as changes made meanwhile were not sent here. */
  connection(state: ConnectionState): void {
    if (this.#requests === undefined) return;
    if (state === 'open') {
      if (!this.#queue.some((request) => request.type === 'get')) this.#queue.push({ type: 'get' });
      void this.#next();
      return;
    }
    const request = this.#inFlight;
    // The server's answer to it would have come on the connection that is gone.
    if (request?.type === 'set' && request.awaiting) {
      this.#settle(
        request,
        new PushlineError('NOT_CONNECTED', 'the connection was lost before the server answered'),
      );
    }
  }

  /** A refusal of a `prefs` frame that no call was waiting for (the client's `error` event). */
  refused(error: PushlineServerError): void {
    if (this.#requests === undefined) return;
    const request = this.#inFlight;
    if (request?.type === 'set') {
      if (request.awaiting) this.#settle(request, error);
      else request.stray = error;
      return;
    }
    this.#ui.error.textContent = `The server refused a change of preferences: ${error.message}`;
  }

  #isMuted(kind: PreferenceKind, name: string): boolean {
    return this.#prefs?.muted[kind].includes(name) ?? false;
  }

  #reflects(request: SetRequest): boolean {
    return this.#isMuted(request.kind, request.name) === request.mute;
  }

  #addTyped(kind: PreferenceKind): void {
    const { input, error } = this.#ui.forms[kind];
    const name = input.value.trim();
    const problem =
      name === ''
        ? `Type the ${kindWord(kind)} to add.`
        : name.length > MAX_NAME_LENGTH
          ? `A ${kindWord(kind)} is at most ${MAX_NAME_LENGTH} characters.`
          : undefined;
    error.textContent = problem ?? '';
    if (problem !== undefined) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    input.value = '';
    const listed = this.#rows.has(keyOf(kind, name));
    this.#add(kind, name, true);
    this.#render();
    this.#ui.status.textContent = listed
      ? `The ${kindWord(kind)} ${name} is already listed.`
      : `Added the ${kindWord(kind)} ${name}: switch it on to mute it.`;
  }

  #add(kind: PreferenceKind, name: string, typed = false): void {
    const names = this.#names[kind];
    if (names.has(name)) return;
    if (!typed && names.size >= MAX_LISTED && !this.#isMuted(kind, name)) return;
    names.add(name);
    const row = this.#row(kind, name);
    this.#rows.set(keyOf(kind, name), row);
    // Sorted by name; rows are never rebuilt, so focus stays where it is.
    const list = this.#ui.lists[kind];
    const after = [...list.children].find((item) => ((item as HTMLElement).dataset.name ?? '') > name);
    list.insertBefore(row.item, after ?? null);
    this.#renderRow(keyOf(kind, name), row);
    this.#ui.empty[kind].hidden = true;
  }

  #row(kind: PreferenceKind, name: string): Row {
    const id = `pref-${kind}-${++this.#rowCounter}`;
    const item = document.createElement('li');
    item.className = 'pref';
    item.dataset.kind = kind;
    item.dataset.name = name;
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.setAttribute('role', 'switch');
    input.id = id;
    input.setAttribute('aria-describedby', `${id}-note ${id}-error`);
    const label = document.createElement('label');
    label.htmlFor = id;
    const hidden = document.createElement('span');
    hidden.className = 'visually-hidden';
    hidden.textContent = `Mute ${kindWord(kind)} `;
    const shown = document.createElement('span');
    shown.className = 'pref-name';
    shown.textContent = name;
    label.append(hidden, shown);
    const note = document.createElement('span');
    note.id = `${id}-note`;
    note.className = 'pref-note';
    const error = document.createElement('p');
    error.id = `${id}-error`;
    error.className = 'error pref-error';
    error.setAttribute('role', 'alert');
    // A click while the server has not answered changes nothing (the switch keeps what was asked).
    input.addEventListener('click', (event) => {
      if (this.#pending.has(keyOf(kind, name))) event.preventDefault();
    });
    input.addEventListener('change', () => this.#toggle(kind, name, input.checked));
    item.append(input, label, note, error);
    return { kind, name, item, input, note, error };
  }

  #toggle(kind: PreferenceKind, name: string, mute: boolean): void {
    if (this.#requests === undefined) return;
    const key = keyOf(kind, name);
    this.#pending.set(key, mute);
    this.#errors.delete(key);
    // Sent for mandatory types too: the server decides, and its refusal says why in its words.
    this.#queue.push({ type: 'set', kind, name, mute });
    this.#ui.status.textContent = `${mute ? 'Muting' : 'Unmuting'} the ${kindWord(kind)} ${name}…`;
    this.#render();
    void this.#next();
  }

  async #next(): Promise<void> {
    const requests = this.#requests;
    if (this.#inFlight !== undefined || requests === undefined) return;
    const request = this.#queue.shift();
    if (request === undefined) return;
    this.#inFlight = request;
    const session = this.#session;
    try {
      if (request.type === 'get') {
        await requests.get();
        if (session === this.#session) this.#settle(request);
        return;
      }
      const names = { [request.kind]: [request.name] };
      await requests.set(request.mute ? { mute: names } : { unmute: names });
      if (session !== this.#session) return;
      if (this.#reflects(request)) this.#settle(request);
      else if (request.stray) this.#settle(request, request.stray);
      // Another device's frame answered the call: wait for this one's (a prefs frame, or a refusal).
      else request.awaiting = true;
    } catch (error) {
      if (session === this.#session) this.#settle(request, error);
    }
  }

  #settle(request: Request, error?: unknown): void {
    if (this.#inFlight !== request) return;
    this.#inFlight = undefined;
    if (request.type === 'get') {
      if (error !== undefined && !(error instanceof PushlineError && error.code === 'CLOSED')) {
        this.#ui.error.textContent = `Could not load the preferences: ${(error as Error).message}`;
      } else if (error === undefined) {
        this.#ui.error.textContent = '';
      }
    } else {
      const key = keyOf(request.kind, request.name);
      this.#pending.delete(key);
      const what = `the ${kindWord(request.kind)} ${request.name}`;
      if (error === undefined) {
        this.#errors.delete(key);
        this.#ui.status.textContent = request.mute
          ? `Muted ${what}: kept as read, pushed to no device.`
          : `Unmuted ${what}: pushed again.`;
      } else {
        const code =
          error instanceof PushlineServerError
            ? error.serverCode
            : error instanceof PushlineError
              ? error.code
              : 'ERROR';
        this.#errors.set(key, { code, text: refusalText(error, request.mute) });
        this.#ui.status.textContent = '';
      }
    }
    this.#render();
    void this.#next();
  }

  #render(): void {
    for (const [key, row] of this.#rows) this.#renderRow(key, row);
    for (const kind of KINDS) this.#ui.empty[kind].hidden = this.#names[kind].size > 0;
  }

  #renderRow(key: string, row: Row): void {
    const { kind, name } = row;
    const pending = this.#pending.get(key);
    const muted = this.#isMuted(kind, name);
    row.input.checked = pending ?? muted;
    const state = pending !== undefined ? 'pending' : muted ? 'muted' : 'on';
    if (row.item.dataset.state !== state) row.item.dataset.state = state;
    row.input.setAttribute('aria-busy', String(pending !== undefined));
    const mandatory = kind === 'types' && (this.#prefs?.mandatory.includes(name) ?? false);
    const note = pending !== undefined ? 'Saving…' : mandatory ? 'Always pushed' : '';
    if (row.note.textContent !== note) row.note.textContent = note;
    const error = this.#errors.get(key);
    // Written only when it changes: rewriting an alert's text would announce it again.
    if (row.error.textContent !== (error?.text ?? '')) row.error.textContent = error?.text ?? '';
    if (error) row.error.dataset.code = error.code;
    else delete row.error.dataset.code;
  }
}
