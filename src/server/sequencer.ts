import {
  EMPTY_EDGE,
  EMPTY_ROOT,
  TILE_WIDTH,
  TlogError,
  appendToEdge,
  bytesEqual,
  edgeFromTiles,
  edgeHashes,
  CompactRange,
  encodeCheckpoint,
  encodeEntryBundle,
  leafHash,
  parseCheckpoint,
  parseEntryBundle,
  parseNote,
  partialTiles,
  signNote,
  toHex,
  type NoteSigner,
  type TileData,
  type TileEdge,
} from '../core/index.ts'
import { StoreWriteError, type Located, type LogStore } from '../storage/index.ts'
import { LogReader, Lru } from './reader.ts'

/**
 * The sequencer: the one writer of the log. It collects submissions into
 * batches (bounded by count and by time), assigns indices, appends the leaf
 * hashes to the tiles, signs the checkpoint of the new tree, and commits
 * entries, tiles, tree state and checkpoint in one synced batch, with the
 * dedup index (the store may write it right after). Only then does any
 * caller learn its index.
 *
 * Memory stays bounded however large the log grows: the sequencer holds the
 * right edge of the tree (one partial tile per level), the entries of the
 * partial entry bundle, and the queue, which is capped.
 */

/** Options of a sequencer. */
export interface SequencerOptions {
  store: LogStore
  /** The log's origin; the signer's key name MUST equal it. */
  origin: string
  signer: NoteSigner
  /** Most entries in one batch. */
  maxBatch?: number
  /** Longest time the first entry of a batch waits for others, in ms. */
  maxDelayMs?: number
  /** Most submissions waiting for a batch; beyond it, submit fails OVERLOADED. */
  maxPending?: number
  /**
   * Called once when a write failed in a way that leaves the disk state
   * unknown. The sequencer has stopped; the process should exit and let
   * startup recovery read back what is on disk.
   */
  onFatal?: (err: unknown) => void
  /**
   * Called when a batch write failed with nothing written (a full disk, a
   * closed store): that batch's submitters are answered OVERLOADED and the
   * sequencer goes on. The operator needs to hear it; clients only retry.
   */
  onWriteError?: (err: StoreWriteError, entries: number) => void
  /** Observes each committed batch (metrics). */
  onBatch?: (info: { entries: number; commitMs: number; treeSize: number }) => void
  /** Reads tiles for past checkpoints; by default a reader over `store`. */
  reader?: LogReader
  /**
   * Decides each batch's entries again in index order, as they take their
   * indices (the revocation state: a revocation and an entry it revokes,
   * admitted at once, are never both sequenced after it); refused entries
   * are answered with their error and take no index.
   */
  inOrder?: InOrderCheck
}

/** A check of a batch's entries in index order, and its effect once the batch is durable (see revocations.ts). */
export interface InOrderCheck {
  decideBatch(entries: readonly Uint8Array[], firstIndex: number): { refusals: (Error | undefined)[] }
  commit(decision: ReturnType<InOrderCheck['decideBatch']>, treeSize: number, entries: readonly Uint8Array[]): void
}

/** What a submitter learns once its entry is durably sequenced. */
export interface Sequenced {
  index: number
  leafHash: Uint8Array
  /** The log-signed checkpoint that first contains the entry. */
  checkpoint: string
  /** Its tree size. */
  treeSize: number
  /** True when the entry was already in the log (or in the same batch) before this submission. */
  duplicate: boolean
}

interface Pending {
  entry: Uint8Array
  leafHash: Uint8Array
  key: string
  promise: Promise<Sequenced>
  resolve: (s: Sequenced) => void
  reject: (e: unknown) => void
}

/**
 * The recent ring keeps the newest batches until they hold RECENT_ENTRIES
 * entries, and at most RECENT_BATCHES batches. It only has to span a store
 * read, or a statement's check between its lookup and its submit (a few
 * batches under load); a lookup it does not cover reads the store again.
 * Bounded by entries because under a flat-out load batches hold hundreds of
 * entries: 256 of them kept ~115,000 keys, a third of the log's live heap,
 * and V8 grows its heap to several times what is live.
 */
const RECENT_BATCHES = 256
const RECENT_ENTRIES = 16_384

/** A committed batch in the recent ring: its entries' indices by key, and the checkpoint size that first holds them. */
interface RecentBatch {
  generation: number
  treeSize: number
  indices: Map<string, number>
}

/** An entry the log did not hold when `Sequencer.find` looked: `submit` queues it (see `Sequencer.submit`). */
export interface NewEntry {
  submit(): Promise<Sequenced>
}

/** Listener of new checkpoints. */
export type CheckpointListener = (checkpoint: string, treeSize: number) => void

export class Sequencer {
  readonly origin: string
  readonly #store: LogStore
  readonly #signer: NoteSigner
  readonly #maxBatch: number
  readonly #maxDelayMs: number
  readonly #maxPending: number
  readonly #onFatal: (err: unknown) => void
  readonly #inOrder: InOrderCheck | undefined
  readonly #onWriteError: SequencerOptions['onWriteError']
  readonly #onBatch: SequencerOptions['onBatch']
  readonly #reader: LogReader
  readonly #pastCheckpoints = new Lru<string>(256)
  #edge: TileEdge = EMPTY_EDGE
  #rootHash: Uint8Array = EMPTY_ROOT
  // The right edge as perfect-subtree hashes: a batch's root costs about one
  // hash per entry and log2(size) more, instead of rehashing partial tiles.
  #range = new CompactRange()
  #bundle: Uint8Array[] = []
  #checkpoint = ''
  #queue: Pending[] = []
  #byKey = new Map<string, Pending>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #committing: Promise<void> | undefined
  #stopped: Error | undefined
  #listeners = new Set<CheckpointListener>()
  // Batches committed so far, and the entries of the most recent ones: a
  // lookup that raced with a commit finds its entry here (see #locate).
  #generation = 0
  #recent: RecentBatch[] = []
  #recentEntries = 0
  #locates: { leafHash: Uint8Array; resolve: (l: Located | undefined) => void; reject: (e: unknown) => void }[] = []

  private constructor(opts: SequencerOptions) {
    this.origin = opts.origin
    this.#store = opts.store
    this.#signer = opts.signer
    this.#maxBatch = opts.maxBatch ?? 256
    this.#maxDelayMs = opts.maxDelayMs ?? 10
    this.#maxPending = opts.maxPending ?? 10_000
    this.#onFatal = opts.onFatal ?? (() => {})
    this.#onWriteError = opts.onWriteError
    this.#onBatch = opts.onBatch
    this.#reader = opts.reader ?? new LogReader(opts.store)
    this.#inOrder = opts.inOrder
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1) throw new RangeError('maxBatch must be a positive integer')
    if (!(this.#maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be >= 0')
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1) throw new RangeError('maxPending must be a positive integer')
    if (opts.signer.name !== opts.origin) throw new RangeError(`the log key name (${opts.signer.name}) must equal the origin (${opts.origin})`)
  }

  /**
   * Opens the sequencer over `store`, recovering its state: reads the tree
   * state, rebuilds the right edge from the partial tiles and checks it hashes
   * to the stored root, reloads the partial entry bundle and checks it against
   * the level-0 tile, and checks the stored checkpoint matches. A new store
   * gets a signed checkpoint of the empty tree. Throws CORRUPT when stored
   * state is inconsistent: the log must not sign anything on top of it.
   */
  static async open(opts: SequencerOptions): Promise<Sequencer> {
    const s = new Sequencer(opts)
    await s.#recover()
    return s
  }

  async #recover(): Promise<void> {
    const state = await this.#store.getTreeState()
    if (state === undefined) {
      const note = await this.#sign(0, EMPTY_ROOT)
      await this.#store.commit({ tree: { treeSize: 0, rootHash: EMPTY_ROOT }, tiles: [], dedup: [], checkpoint: note })
      this.#checkpoint = note
      return
    }
    const size = state.treeSize
    const partial = partialTiles(size)
    const stored = await this.#store.getTiles(partial)
    const tiles: TileData[] = []
    partial.forEach((t, i) => {
      const d = stored[i]
      if (d !== undefined) tiles.push({ tile: t, data: d })
    })
    this.#edge = edgeFromTiles(size, tiles)
    this.#range = CompactRange.fromHashes(size, edgeHashes(this.#edge))
    const root = this.#range.root()
    if (!bytesEqual(root, state.rootHash)) {
      throw new TlogError('CORRUPT', `stored tiles hash to ${toHex(root)}, but the stored tree state of size ${size} says ${toHex(state.rootHash)}`)
    }
    this.#rootHash = root
    const inBundle = size % TILE_WIDTH
    if (inBundle > 0) {
      const bundleIndex = Math.floor(size / TILE_WIDTH)
      const [b] = await this.#store.getTiles([{ level: 'entries', index: bundleIndex, width: inBundle }])
      if (b === undefined) throw new TlogError('CORRUPT', `entry bundle ${bundleIndex} is missing`)
      const entries = parseEntryBundle(b).slice(0, inBundle)
      const level0 = this.#edge.tiles[0] ?? new Uint8Array(0)
      if (entries.length !== inBundle) throw new TlogError('CORRUPT', `entry bundle ${bundleIndex} holds ${entries.length} entries, want ${inBundle}`)
      entries.forEach((e, i) => {
        if (!bytesEqual(leafHash(e), level0.subarray(i * 32, (i + 1) * 32))) {
          throw new TlogError('CORRUPT', `entry ${bundleIndex * TILE_WIDTH + i} does not match its level-0 tile hash`)
        }
      })
      this.#bundle = entries
    }
    const note = await this.#store.getCheckpoint()
    if (note === undefined) throw new TlogError('CORRUPT', `no signed checkpoint for the stored tree size ${size}`)
    const c = parseCheckpoint(parseNote(note).text)
    if (c.origin !== this.origin || c.treeSize !== size || !bytesEqual(c.rootHash, root)) {
      throw new TlogError('CORRUPT', `the stored checkpoint does not match the stored tree (origin ${c.origin}, size ${c.treeSize})`)
    }
    this.#checkpoint = note
  }

  async #sign(treeSize: number, rootHash: Uint8Array): Promise<string> {
    return signNote(encodeCheckpoint({ origin: this.origin, treeSize, rootHash, extensions: [] }), [this.#signer])
  }

  /** The size of the committed tree. */
  get treeSize(): number {
    return this.#edge.size
  }

  /** The root hash of the committed tree. */
  get rootHash(): Uint8Array {
    return this.#rootHash
  }

  /** The latest log-signed checkpoint. */
  get checkpoint(): string {
    return this.#checkpoint
  }

  /** Submissions waiting for a batch (not counting the batch being written). */
  get queueDepth(): number {
    return this.#queue.length
  }

  /** Whether the sequencer stopped (a fatal storage error, the restore guard, or shutdown). */
  get stopped(): boolean {
    return this.#stopped !== undefined
  }

  /** Why the sequencer stopped, in words for the operator. */
  get stopReason(): string | undefined {
    return this.#stopped?.message
  }

  /** Calls `listener` after each new checkpoint is durable. Returns an unsubscribe function. */
  onCheckpoint(listener: CheckpointListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Returns where `entry` already is: in the log (with the checkpoint that
   * first contains it), or waiting in a batch (resolving once durable).
   * Undefined when the log has never seen it. `lh` is the entry's leaf hash,
   * when the caller has it already.
   */
  async lookup(entry: Uint8Array, lh: Uint8Array = leafHash(entry)): Promise<Sequenced | undefined> {
    const found = await this.find(entry, lh)
    return 'submit' in found ? undefined : found
  }

  /**
   * Returns where `entry` already is, as `lookup` does, or, when the log has
   * never seen it, a `NewEntry` whose `submit` queues it. Whoever checks an
   * entry between the two (admission) calls `submit` only once it passed:
   * `submit` then reads the store again only if so many batches committed
   * in between that the recent ring no longer holds them all.
   */
  async find(entry: Uint8Array, lh: Uint8Array = leafHash(entry)): Promise<Sequenced | NewEntry> {
    const checkedAt = this.#generation
    const known = await this.#find(lh)
    return known ?? { submit: () => this.#submit(entry, lh, checkedAt) }
  }

  async #find(lh: Uint8Array): Promise<Sequenced | undefined> {
    const queued = this.#byKey.get(toHex(lh))
    if (queued !== undefined) return queued.promise.then((s) => ({ ...s, duplicate: true }))
    const known = await this.#locate(lh)
    if (known !== undefined) return this.#existing(known, lh)
    const since = this.#byKey.get(toHex(lh))
    return since === undefined ? undefined : since.promise.then((s) => ({ ...s, duplicate: true }))
  }

  /**
   * Returns where the log holds the entry with `leafHash`, or undefined.
   * Airtight against a race with the batch writer: a batch that commits
   * while the store read is in flight is found in the recent batches, so an
   * entry is never sequenced twice, and the batch writer needs no read of
   * its own. Reads of concurrent lookups are coalesced into one store call.
   */
  async #locate(lh: Uint8Array): Promise<Located | undefined> {
    const key = toHex(lh)
    for (;;) {
      const generation = this.#generation
      const found = await this.#readLocation(lh)
      if (found !== undefined) return found
      const committed = this.#committedSince(key, generation)
      if (committed !== undefined) return committed
      // Batches older than the ring may have committed during the read: read again.
      const oldest = this.#recent[0]?.generation ?? this.#generation + 1
      if (oldest <= generation + 1) return undefined
    }
  }

  #readLocation(lh: Uint8Array): Promise<Located | undefined> {
    return new Promise((resolve, reject) => {
      this.#locates.push({ leafHash: lh, resolve, reject })
      if (this.#locates.length > 1) return
      // Gather the lookups of this turn of the event loop into one read.
      setImmediate(() => {
        const batch = this.#locates
        this.#locates = []
        this.#store.locate(batch.map((l) => l.leafHash)).then(
          (found) => batch.forEach((l, i) => l.resolve(found[i])),
          (err) => batch.forEach((l) => l.reject(err)),
        )
      })
    })
  }

  /**
   * Returns the log-signed checkpoint of a past (or the current) tree size.
   * Past checkpoints are not stored: signing is deterministic, so signing the
   * root of `treeSize` again gives the bytes handed out when it was new.
   */
  async checkpointAt(treeSize: number): Promise<string> {
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > this.treeSize) {
      throw new TlogError('NOT_FOUND', `the log has no tree of size ${treeSize} (it has ${this.treeSize} entries)`)
    }
    if (treeSize === this.treeSize) return this.#checkpoint
    const key = String(treeSize)
    const cached = this.#pastCheckpoints.get(key)
    if (cached !== undefined) return cached
    const note = await this.#sign(treeSize, await this.#reader.rootHash(treeSize))
    this.#pastCheckpoints.set(key, note)
    return note
  }

  /** Whether every batch committed after generation `since` is in the recent ring. */
  #ringCovers(since: number): boolean {
    if (since > this.#generation) return false
    return since === this.#generation || (this.#recent[0]?.generation ?? Infinity) <= since + 1
  }

  #committedSince(key: string, since: number): Located | undefined {
    for (let i = this.#recent.length - 1; i >= 0 && this.#recent[i]!.generation > since; i--) {
      const b = this.#recent[i]!
      const index = b.indices.get(key)
      if (index !== undefined) return { index, treeSize: b.treeSize }
    }
    return undefined
  }

  /**
   * Sequences `entry` (whose leaf hash is `lh`) and resolves once it is
   * durable. The same entry submitted again (now or later) resolves to the
   * same index. Rejects with OVERLOADED when the queue is full or a batch
   * failed transiently, and with the fatal error once the sequencer has
   * stopped.
   */
  submit(entry: Uint8Array, lh: Uint8Array = leafHash(entry)): Promise<Sequenced> {
    return this.#submit(entry, lh, undefined)
  }

  /**
   * `checkedAt`, when given, is the count of committed batches read before
   * a lookup of this entry that found nothing (see `find`).
   */
  async #submit(entry: Uint8Array, lh: Uint8Array, checkedAt: number | undefined): Promise<Sequenced> {
    if (this.#stopped !== undefined) throw this.#stopped
    const key = toHex(lh)
    const queued = this.#byKey.get(key)
    if (queued !== undefined) return queued.promise.then((s) => ({ ...s, duplicate: true }))
    // After a lookup that found nothing, only the batches committed since can
    // hold the entry; while the recent ring holds them all, no read is needed.
    const known = checkedAt !== undefined && this.#ringCovers(checkedAt) ? this.#committedSince(key, checkedAt) : await this.#locate(lh)
    if (known !== undefined) return this.#existing(known, lh)
    // Another submission of the same entry may have been queued while we read the store.
    const again = this.#byKey.get(key)
    if (again !== undefined) return again.promise.then((s) => ({ ...s, duplicate: true }))
    if (this.#stopped !== undefined) throw this.#stopped
    if (this.#queue.length >= this.#maxPending) {
      throw new TlogError('OVERLOADED', `the log has ${this.#queue.length} submissions waiting; retry shortly`)
    }
    let resolve!: (s: Sequenced) => void
    let reject!: (e: unknown) => void
    const promise = new Promise<Sequenced>((res, rej) => {
      resolve = res
      reject = rej
    })
    const p: Pending = { entry, leafHash: lh, key, promise, resolve, reject }
    this.#queue.push(p)
    this.#byKey.set(key, p)
    this.#schedule()
    return promise
  }

  async #existing(at: Located, lh: Uint8Array): Promise<Sequenced> {
    return { index: at.index, leafHash: lh, checkpoint: await this.checkpointAt(at.treeSize), treeSize: at.treeSize, duplicate: true }
  }

  #schedule(): void {
    if (this.#committing !== undefined) return
    if (this.#queue.length >= this.#maxBatch) {
      this.#startBatch()
      return
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      if (this.#committing === undefined && this.#queue.length > 0) this.#startBatch()
    }, this.#maxDelayMs)
  }

  #startBatch(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    const items = this.#queue.splice(0, this.#maxBatch)
    this.#committing = this.#runBatch(items).finally(() => {
      this.#committing = undefined
      // Whatever arrived during the write has already waited; write it now.
      if (this.#queue.length > 0 && this.#stopped === undefined) this.#startBatch()
    })
  }

  async #runBatch(items: Pending[]): Promise<void> {
    try {
      await this.#writeBatch(items)
    } catch (err) {
      for (const it of items) this.#byKey.delete(it.key)
      if (err instanceof StoreWriteError && err.persisted === false) {
        // Nothing reached the disk: fail this batch only; the tree is unchanged.
        const e = new TlogError('OVERLOADED', 'the log could not write this batch; retry shortly', { cause: err })
        for (const it of items) it.reject(e)
        try {
          this.#onWriteError?.(err, items.length)
        } catch {
          // Reporting must not change what the submitters were told.
        }
        return
      }
      this.#fail(err, items)
    }
  }

  async #writeBatch(all: Pending[]): Promise<void> {
    // Every item was checked against the store and the recent batches after
    // its last await in submit(), and #byKey keeps one item per entry, so the
    // batch holds only entries the log does not have.
    const oldSize = this.#edge.size
    // Decided in index order, synchronously: nothing else takes an index
    // between this decision and the commit below.
    const decision = this.#inOrder?.decideBatch(
      all.map((it) => it.entry),
      oldSize,
    )
    let items = all
    if (decision !== undefined && decision.refusals.some((r) => r !== undefined)) {
      items = []
      all.forEach((it, i) => {
        const refused = decision.refusals[i]
        if (refused === undefined) {
          items.push(it)
          return
        }
        this.#byKey.delete(it.key)
        it.reject(refused)
      })
      if (items.length === 0) return
    }
    const { edge, written } = appendToEdge(
      this.#edge,
      items.map((it) => it.leafHash),
    )
    const range = this.#range.clone()
    for (const it of items) range.append(it.leafHash)
    const root = range.root()
    const { bundles, partial } = this.#bundles(oldSize, items.map((it) => it.entry))
    const note = await this.#sign(edge.size, root)
    const started = performance.now()
    // Nobody learns an index before this synced write returns: an index we
    // hand out must survive a crash, or a restarted log could give the same
    // index to a different entry.
    await this.#store.commit({
      tree: { treeSize: edge.size, rootHash: root },
      tiles: [...written, ...bundles],
      dedup: items.map((it, i) => ({ leafHash: it.leafHash, index: oldSize + i })),
      checkpoint: note,
    })
    const commitMs = performance.now() - started
    if (decision !== undefined) {
      this.#inOrder!.commit(
        decision,
        edge.size,
        items.map((it) => it.entry),
      )
    }
    this.#edge = edge
    this.#range = range
    this.#rootHash = root
    this.#bundle = partial
    this.#checkpoint = note
    // In the same turn as the commit became visible: #locate relies on it.
    this.#generation++
    const indices = new Map(items.map((it, i) => [it.key, oldSize + i]))
    this.#recent.push({ generation: this.#generation, treeSize: edge.size, indices })
    this.#recentEntries += indices.size
    this.#reader.learn(
      oldSize,
      items.map((it) => it.leafHash),
    )
    while (this.#recent.length > RECENT_BATCHES || this.#recentEntries - this.#recent[0]!.indices.size >= RECENT_ENTRIES) {
      this.#recentEntries -= this.#recent.shift()!.indices.size
    }
    items.forEach((it, i) => {
      this.#byKey.delete(it.key)
      it.resolve({ index: oldSize + i, leafHash: it.leafHash, checkpoint: note, treeSize: edge.size, duplicate: false })
    })
    this.#onBatch?.({ entries: items.length, commitMs, treeSize: edge.size })
    for (const l of this.#listeners) {
      try {
        l(note, edge.size)
      } catch {
        // A listener's failure must not undo or fail a durable batch.
      }
    }
  }

  /** Returns the entry bundles this batch changes, and the new partial bundle. */
  #bundles(oldSize: number, entries: Uint8Array[]): { bundles: TileData[]; partial: Uint8Array[] } {
    const bundles: TileData[] = []
    let index = Math.floor(oldSize / TILE_WIDTH)
    let current = this.#bundle.slice()
    for (const e of entries) {
      current.push(e)
      if (current.length === TILE_WIDTH) {
        bundles.push({ tile: { level: 'entries', index, width: TILE_WIDTH }, data: encodeEntryBundle(current) })
        index++
        current = []
      }
    }
    if (current.length > 0) bundles.push({ tile: { level: 'entries', index, width: current.length }, data: encodeEntryBundle(current) })
    return { bundles, partial: current }
  }

  #fail(err: unknown, items: Pending[]): void {
    if (this.#stopped !== undefined) return
    const e = new TlogError('CORRUPT', 'the log stopped after a storage failure; it recovers on restart', { cause: err })
    this.#stopped = e
    for (const it of [...items, ...this.#queue]) it.reject(e)
    this.#queue = []
    this.#byKey.clear()
    this.#onFatal(err)
  }

  /**
   * Stops signing for good (until restart) without touching the disk: the
   * restore guard calls it when witnesses have seen a history this log does
   * not hold. Queued submissions fail with `err`, and so does every later one.
   */
  halt(err: TlogError): void {
    if (this.#stopped !== undefined) return
    this.#stopped = err
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    for (const it of this.#queue) it.reject(err)
    this.#queue = []
    this.#byKey.clear()
  }

  /** Stops accepting work, lets the batch being written finish, and fails what is still queued. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    // Write what is queued before closing: these callers are waiting for an answer.
    while (this.#committing !== undefined || (this.#queue.length > 0 && this.#stopped === undefined)) {
      if (this.#committing === undefined) this.#startBatch()
      await this.#committing
    }
    this.#stopped ??= new TlogError('OVERLOADED', 'the log is shutting down; retry shortly')
  }
}
