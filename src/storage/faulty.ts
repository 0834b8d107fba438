import type { KvOp, KvRange, KvStore } from './kv.ts'
import { StoreWriteError } from './store.ts'

/**
 * When a planned write failure strikes: `'before'` fails without writing
 * (`persisted: false`); `'after'` writes to the inner store, then fails
 * (`persisted: 'unknown'`), as a disk that took the write but whose
 * acknowledgement was lost.
 */
export type FaultMode = 'before' | 'after'

/**
 * Returns a KvStore that forwards to `inner` but fails writes on demand, for
 * testing what a caller (the sequencer, the witness) does when a durable
 * write fails. Only `batch` fails; reads, iteration and close pass through.
 *
 * - `failAt(n, mode)`: the n-th batch call from now fails as `mode` says.
 * - `failAll()`: every later batch fails with `persisted: false` and an
 *   ENOSPC message, as a full disk, until `heal()`.
 * - `calls` counts batch calls, `written` those that reached `inner`.
 */
export class FaultyKv implements KvStore {
  readonly #inner: KvStore
  readonly #plan = new Map<number, FaultMode>()
  #failAll = false
  #calls = 0
  #written = 0
  /** Forwards to the inner store's diskUsage; present only when it has one. */
  readonly diskUsage?: () => Promise<number>

  /** Returns a FaultyKv over `inner` with no failures planned. */
  constructor(inner: KvStore) {
    this.#inner = inner
    if (inner.diskUsage !== undefined) this.diskUsage = () => inner.diskUsage!()
  }

  /** The store this one forwards to, to reopen it or inspect it behind the faults. */
  get inner(): KvStore {
    return this.#inner
  }

  /** Returns how many batch calls were made, failed ones included. */
  get calls(): number {
    return this.#calls
  }

  /** Returns how many batches reached the inner store (including 'after' failures). */
  get written(): number {
    return this.#written
  }

  /**
   * Plans the `n`-th batch call from now (1 = the next one) to fail as
   * `mode` says. Several plans may be pending; a later plan for the same
   * call replaces the earlier one.
   */
  failAt(n: number, mode: FaultMode): void {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('failAt: n must be a positive integer')
    if (mode !== 'before' && mode !== 'after') throw new TypeError(`failAt: unknown mode ${String(mode)}`)
    this.#plan.set(this.#calls + n, mode)
  }

  /** Makes every later batch fail without writing, as a full disk (ENOSPC), until `heal()`. */
  failAll(): void {
    this.#failAll = true
  }

  /** Cancels `failAll()` and every pending `failAt` plan. */
  heal(): void {
    this.#failAll = false
    this.#plan.clear()
  }

  /** Forwards to the inner store. */
  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#inner.get(key)
  }

  /** Forwards to the inner store. */
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.#inner.getMany(keys)
  }

  /** Forwards to the inner store unless a failure is planned for this call; see the class. */
  async batch(ops: readonly KvOp[]): Promise<void> {
    const call = ++this.#calls
    const mode = this.#plan.get(call)
    this.#plan.delete(call)
    if (this.#failAll) {
      const cause = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      throw new StoreWriteError(`simulated write failure on batch ${call}: ENOSPC: no space left on device`, false, { cause })
    }
    if (mode === 'before') throw new StoreWriteError(`simulated write failure before batch ${call} persisted`, false)
    await this.#inner.batch(ops)
    this.#written++
    if (mode === 'after') throw new StoreWriteError(`simulated write failure after batch ${call} persisted`, 'unknown')
  }

  /** Forwards to the inner store. */
  iterate(range?: KvRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    return this.#inner.iterate(range)
  }

  /** Closes the inner store. */
  close(): Promise<void> {
    return this.#inner.close()
  }
}
