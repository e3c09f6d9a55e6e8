/**
 * The taken mesh addresses, cached by a SQL store between registrations so that each one does not
 * re-read and re-parse every address ever assigned. Nodes are never deleted and addresses never
 * change, so the node count identifies the set: the cache is used only while the count read inside
 * the registration transaction (under the write lock) equals the count it was built from; any other
 * writer (a replica, another process) changes the count and the cache is rebuilt.
 */
import { AddressPool } from '../alloc.ts';

export class AddressCache {
  #count = -1;
  #addresses: string[] = [];
  #pools = new Map<string, AddressPool>();

  /** Inside the write lock: makes the cache reflect `count` nodes, calling `load` when it does not. */
  async sync(count: number, load: () => Promise<string[]>): Promise<void> {
    if (count === this.#count) return;
    this.#addresses = await load();
    this.#pools.clear();
    this.#count = count;
  }

  /** The lowest free address of `prefix` (marks nothing taken). */
  lowestFree(prefix: string): string | undefined {
    let pool = this.#pools.get(prefix);
    if (!pool) {
      pool = new AddressPool(prefix);
      for (const a of this.#addresses) pool.add(a);
      this.#pools.set(prefix, pool);
    }
    return pool.lowestFree();
  }

  /**
   * After the commit of one new node that saw `countBefore` nodes. Every sync runs under the write
   * lock, so a cache built from more nodes was built after this commit and already holds the node;
   * one built from fewer is stale.
   */
  committed(countBefore: number, addresses: string[]): void {
    if (this.#count > countBefore) return;
    if (this.#count < countBefore) return this.invalidate();
    this.#count++;
    this.#addresses.push(...addresses);
    for (const pool of this.#pools.values()) for (const a of addresses) pool.add(a);
  }

  invalidate(): void {
    this.#count = -1;
    this.#addresses = [];
    this.#pools.clear();
  }
}
