/**
 * An async mutex per key: callers with the same key run one at a time, in
 * the order they asked; callers with different keys run concurrently. The
 * witness keys it by log origin, so that the check of a log's stored size
 * and the write of its new size happen with no other request for that log
 * in between (tlog-witness "add-checkpoint": the check and the store MUST
 * be atomic, or two requests can roll the log back).
 */
export class KeyedMutex {
  // The tail of each key's queue: resolves when the last holder releases.
  // A key is dropped once its queue is empty, so idle logs cost nothing.
  readonly #tails = new Map<string, Promise<void>>()

  /**
   * Returns what `fn` returns, after running it while holding the lock of
   * `key`. The lock is released when `fn` settles, whether it resolves or
   * throws; waiters are served first come, first served.
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    // Chain on the previous holder before awaiting anything, so that a
    // caller arriving in the same tick queues behind us, not beside us.
    const tail = previous.then(() => released)
    this.#tails.set(key, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }

  /** Returns whether some caller holds or waits for the lock of `key` (for tests and metrics). */
  busy(key: string): boolean {
    return this.#tails.has(key)
  }
}
