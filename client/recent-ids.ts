/**
 * The most recently seen message ids, oldest forgotten first: bounded memory for dropping duplicates.
 * A repeat refreshes an id, so an id that keeps coming back is not forgotten.
 */
export class RecentIds {
  readonly #ids = new Map<string, true>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  /** Records `id`; false when it was already among the recent ids. */
  add(id: string): boolean {
    const known = this.#ids.delete(id);
    this.#ids.set(id, true);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.keys().next();
      if (!oldest.done) this.#ids.delete(oldest.value);
    }
    return !known;
  }

  /** Whether `id` is among the recent ids (without refreshing it). */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** The `max` most recently seen ids, oldest first (to persist alongside the cursor). */
  newest(max: number): string[] {
    const all = [...this.#ids.keys()];
    return all.slice(Math.max(0, all.length - max));
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#ids.size;
  }
}
