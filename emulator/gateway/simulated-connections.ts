/**
 * Simulated connections, a local-only mode of the gateway for audiences too large for real
 * sockets: connections that exist only as ids. The management API accepts posts to them (200),
 * counts each post per id and sends nothing anywhere; GET and DELETE work as for an open
 * connection. Nothing of this exists on AWS (docs/local-runtime.md, "Simulated connections").
 */
import { SimulatedConnectionsError } from './errors.ts';
import { newGatewayId } from './events.ts';

/** Most simulated connections one gateway holds. */
export const MAX_SIMULATED_CONNECTIONS = 1_000_000;
/** Most ids one call creates or adds. */
export const MAX_SIMULATED_BATCH = 200_000;
/** Longest id accepted. */
export const MAX_SIMULATED_ID_LENGTH = 128;

/** What the simulated connections received, as `stats()` and the local GET endpoint report it. */
export interface SimulatedConnectionStats {
  /** Simulated connections registered and not deleted. */
  readonly connections: number;
  /** Posts accepted (200) for them since they were registered. */
  readonly posts: number;
  /** Bytes of those posts' bodies. */
  readonly bytes: number;
  /** Number of connections by number of posts received: `{ "0": 2, "1": 99998 }`. */
  readonly histogram: Readonly<Record<string, number>>;
  /** Posts per connection id, when asked for. */
  readonly counts?: Readonly<Record<string, number>>;
}

/** A simulated connection's details, for GET `@connections/{id}`. */
export interface SimulatedConnection {
  readonly id: string;
  /** Epoch milliseconds of its registration; also its `lastActiveAt` (it never sends frames). */
  readonly registeredAt: number;
  posts: number;
}

/** The simulated connections of one gateway. */
export class SimulatedConnections {
  readonly #connections = new Map<string, SimulatedConnection>();
  readonly #isRealConnection: (id: string) => boolean;
  #posts = 0;
  #bytes = 0;

  /** `isRealConnection` says whether an id is an open real connection, which an id may not shadow. */
  constructor(isRealConnection: (id: string) => boolean) {
    this.#isRealConnection = isRealConnection;
  }

  /** Registers `count` new ids in API Gateway's form and returns them. */
  create(count: number): string[] {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SIMULATED_BATCH) {
      throw new SimulatedConnectionsError(`count must be an integer from 1 to ${MAX_SIMULATED_BATCH}.`);
    }
    this.#checkRoom(count);
    const ids: string[] = [];
    const now = Date.now();
    while (ids.length < count) {
      const id = newGatewayId();
      if (this.#connections.has(id) || this.#isRealConnection(id)) continue;
      this.#connections.set(id, { id, registeredAt: now, posts: 0 });
      ids.push(id);
    }
    return ids;
  }

  /** Registers the given ids (an id already registered keeps its count) and returns them. */
  add(ids: readonly unknown[]): string[] {
    if (ids.length < 1 || ids.length > MAX_SIMULATED_BATCH) {
      throw new SimulatedConnectionsError(`ids must hold from 1 to ${MAX_SIMULATED_BATCH} ids.`);
    }
    for (const id of ids) {
      if (typeof id !== 'string' || id.length < 1 || id.length > MAX_SIMULATED_ID_LENGTH) {
        throw new SimulatedConnectionsError(
          `Each id must be a string of 1 to ${MAX_SIMULATED_ID_LENGTH} characters.`,
        );
      }
      if (this.#isRealConnection(id)) {
        throw new SimulatedConnectionsError(`${id} is an open connection of this gateway.`);
      }
    }
    const strings = ids as readonly string[];
    this.#checkRoom(strings.filter((id) => !this.#connections.has(id)).length);
    const now = Date.now();
    for (const id of strings) {
      if (!this.#connections.has(id)) this.#connections.set(id, { id, registeredAt: now, posts: 0 });
    }
    return [...strings];
  }

  /** The simulated connection, or undefined. */
  get(id: string): SimulatedConnection | undefined {
    return this.#connections.get(id);
  }

  /** Counts a post of `bytes` bytes; false when the id is not a simulated connection. */
  post(id: string, bytes: number): boolean {
    const connection = this.#connections.get(id);
    if (connection === undefined) return false;
    connection.posts++;
    this.#posts++;
    this.#bytes += bytes;
    return true;
  }

  /** Removes one simulated connection (DELETE `@connections/{id}`); false when it is not one. */
  delete(id: string): boolean {
    return this.#connections.delete(id);
  }

  /** Removes every simulated connection and resets the totals. */
  clear(): void {
    this.#connections.clear();
    this.#posts = 0;
    this.#bytes = 0;
  }

  /** Totals and the histogram of posts per connection; `counts` too when `withCounts`. */
  stats(withCounts = false): SimulatedConnectionStats {
    const histogram: Record<string, number> = {};
    const counts: Record<string, number> = {};
    for (const connection of this.#connections.values()) {
      histogram[connection.posts] = (histogram[connection.posts] ?? 0) + 1;
      if (withCounts) counts[connection.id] = connection.posts;
    }
    return {
      connections: this.#connections.size,
      posts: this.#posts,
      bytes: this.#bytes,
      histogram,
      ...(withCounts ? { counts } : {}),
    };
  }

  #checkRoom(adding: number): void {
    if (this.#connections.size + adding > MAX_SIMULATED_CONNECTIONS) {
      throw new SimulatedConnectionsError(
        `A gateway holds at most ${MAX_SIMULATED_CONNECTIONS} simulated connections.`,
      );
    }
  }
}
