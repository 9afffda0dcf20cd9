/** A listener of one event. */
export type Listener<T> = (payload: T) => void;

/**
 * A tiny typed event emitter. `on` returns the function that removes the listener, so callers need
 * not keep a reference to it. A listener that throws never breaks the emitter (see `listenerFailed`).
 */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Calls `listener` for every `event` until the returned function is called. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Calls `listener` for the next `event` only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes a listener added with `on`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Calls every listener of `event` in the order they were added. */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    // A copy, so that listeners may remove themselves (as `once` does) while the loop runs.
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        this.listenerFailed(event, error);
      }
    }
  }

  /** Called when a listener throws; the default rethrows outside the emitter, like an uncaught error. */
  protected listenerFailed(_event: keyof Events, error: unknown): void {
    queueMicrotask(() => {
      throw error;
    });
  }
}
