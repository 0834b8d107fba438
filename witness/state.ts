import {
  HASH_SIZE,
  TlogError,
  bytesEqual,
  concatBytes,
  fromHex,
  fromUtf8,
  parseCheckpoint,
  parseNote,
  readU32be,
  readU64be,
  sha256,
  toHex,
  u32be,
  u64be,
  utf8,
} from '../src/core/index.ts'
import { prefixRange, type KvOp, type KvStore } from '../src/storage/index.ts'
import { KeyedMutex } from './keyed-mutex.ts'

/**
 * The witness's durable state, on a KvStore of its own (its own LevelDB
 * directory in production, a MemoryKv in tests):
 *
 * - per log origin, the latest checkpoint it cosigned: size, root and the
 *   note as cosigned (the log's verified signature lines and this witness's
 *   cosignature), under `0x10 || SHA-256(origin)`;
 * - evidence: refused add-checkpoint requests that carried a valid log
 *   signature (split views, bad proofs, rollbacks), bounded per log and in
 *   total, oldest dropped first, under `0x11 || u64 seq` with an index
 *   `0x12 || SHA-256(origin) || u64 seq -> u32 record size`.
 *
 * There is deliberately no in-memory copy of the per-log state: every check
 * reads the store under the log's lock. A write that fails with
 * `persisted: 'unknown'` may or may not be on disk, and a cache could then
 * disagree with what a restart finds; reading back each time cannot.
 *
 * The prefixes differ from the log's (0x01..0x06), so a witness pointed at
 * a log's data directory cannot mistake the log's records for its own.
 */

/** Key prefix of the per-origin latest cosigned checkpoint. */
export const PREFIX_COSIGNED = 0x10
/** Key prefix of evidence records, by sequence number. */
export const PREFIX_EVIDENCE = 0x11
/** Key prefix of the evidence index, by origin hash and sequence number. */
export const PREFIX_EVIDENCE_INDEX = 0x12

const STATE_VERSION = 0x01

/** The latest checkpoint the witness cosigned for one log. */
export interface CosignedCheckpoint {
  origin: string
  treeSize: number
  rootHash: Uint8Array
  /**
   * The checkpoint note as cosigned: the checkpoint text, the signature
   * lines of the log's trusted keys that verified, and this witness's
   * cosignature line(s). Lines of unknown keys (other witnesses, other
   * algorithms) are not kept: the witness vouches only for what it checked.
   */
  note: string
}

/** Why a signed request was refused and kept as evidence. */
export type EvidenceReason =
  /** Same tree size as the cosigned checkpoint, another root hash. */
  | 'split-view'
  /** A consistency proof from the cosigned checkpoint that does not verify. */
  | 'bad-proof'
  /** A signed checkpoint of size 0 whose root is not the empty-tree hash. */
  | 'bad-empty-root'
  /** A signed checkpoint smaller than the one the witness cosigned. */
  | 'rollback'

/** One kept refusal. */
export interface Evidence {
  /** Sequence number, increasing in the order records were kept. */
  id: number
  origin: string
  /** When the request was refused, in ms since the Unix epoch. */
  timeMs: number
  /** The HTTP status the witness answered. */
  status: number
  reason: EvidenceReason
  /** The refusal message sent to the client. */
  message: string
  /** The add-checkpoint request body, verbatim. */
  request: string
}

/** What a caller gives to keep a refusal as evidence. */
export type EvidenceInput = Omit<Evidence, 'id'>

/** Bounds of the evidence kept. */
export interface EvidenceLimits {
  /** Most records kept per log; the oldest of that log is dropped first. */
  perLog: number
  /** Most bytes of records kept in total; the oldest records are dropped first. */
  totalBytes: number
}

/** The default evidence bounds: 100 records per log, 64 MiB in total. */
export const DEFAULT_EVIDENCE_LIMITS: Readonly<EvidenceLimits> = Object.freeze({ perLog: 100, totalBytes: 64 * 1024 * 1024 })

/**
 * Stores `next` as the latest cosigned checkpoint of the origin being
 * updated, in one synced batch. Throws StoreWriteError when the write fails
 * and Error when `next` would roll the stored state back.
 */
export type Commit = (next: CosignedCheckpoint) => Promise<void>

/** Returns the key of an origin's latest cosigned checkpoint. */
export function cosignedKey(originHash: Uint8Array): Uint8Array {
  if (originHash.length !== HASH_SIZE) throw new RangeError('origin hash must be 32 bytes')
  return concatBytes(Uint8Array.of(PREFIX_COSIGNED), originHash)
}

/** Returns the SHA-256 of an origin line: the monitoring API's name for a log. */
export function originHash(origin: string): Uint8Array {
  return sha256(utf8(origin))
}

/** Returns the stored bytes of a cosigned checkpoint: version || u64 size || root || note. */
export function encodeCosigned(c: CosignedCheckpoint): Uint8Array {
  if (!Number.isSafeInteger(c.treeSize) || c.treeSize < 0) throw new RangeError('treeSize must be a safe non-negative integer')
  if (c.rootHash.length !== HASH_SIZE) throw new RangeError('rootHash must be 32 bytes')
  return concatBytes(Uint8Array.of(STATE_VERSION), u64be(c.treeSize), c.rootHash, utf8(c.note))
}

/**
 * Returns the cosigned checkpoint stored under `hash`. Throws CORRUPT unless
 * the record is well formed and its note agrees with its size, root and key.
 */
export function decodeCosigned(hash: Uint8Array, value: Uint8Array): CosignedCheckpoint {
  const corrupt = (why: string, cause?: unknown): TlogError =>
    new TlogError('CORRUPT', `stored checkpoint for origin hash ${toHex(hash)} is corrupt: ${why}`, { cause })
  if (value.length < 1 + 8 + HASH_SIZE || value[0] !== STATE_VERSION) throw corrupt('unknown record version or short record')
  const size = readU64be(value, 1)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('size exceeds 2^53-1')
  const treeSize = Number(size)
  const rootHash = value.slice(9, 9 + HASH_SIZE)
  let note: string
  let origin: string
  try {
    note = fromUtf8(value.subarray(9 + HASH_SIZE))
    const c = parseCheckpoint(parseNote(note).text)
    origin = c.origin
    if (c.treeSize !== treeSize || !bytesEqual(c.rootHash, rootHash)) throw corrupt('note disagrees with the stored size or root')
  } catch (err) {
    if (err instanceof TlogError && err.code === 'CORRUPT') throw err
    throw corrupt('note does not parse', err)
  }
  if (!bytesEqual(originHash(origin), hash)) throw corrupt(`note is for another origin (${origin})`)
  return { origin, treeSize, rootHash, note }
}

interface TallyRecord {
  seq: number
  /** Hex SHA-256 of the record's origin. */
  log: string
  size: number
}

/** What is kept as evidence, loaded from the index on first use. */
interface Tally {
  records: TallyRecord[]
  total: number
  nextSeq: number
}

function evidenceKey(seq: number): Uint8Array {
  return concatBytes(Uint8Array.of(PREFIX_EVIDENCE), u64be(seq))
}

function evidenceIndexKey(hash: Uint8Array, seq: number): Uint8Array {
  return concatBytes(Uint8Array.of(PREFIX_EVIDENCE_INDEX), hash, u64be(seq))
}

/**
 * The witness's state on a KvStore: per-origin latest cosigned checkpoints,
 * updated under a per-origin lock, and bounded evidence of refusals.
 */
export class WitnessState {
  readonly #kv: KvStore
  readonly #limits: EvidenceLimits
  readonly #locks = new KeyedMutex()
  // Evidence of all logs shares one budget, so its writes are serialised
  // on a lock of their own, apart from the per-origin state locks.
  readonly #evidenceLock = new KeyedMutex()
  // The evidence budget in use. It is only an index of the store's own
  // index; it is dropped whenever an evidence write fails, and reloaded.
  #tally: Tally | undefined

  /** Returns the state over `kv`, keeping evidence within `limits`. */
  constructor(kv: KvStore, limits: Partial<EvidenceLimits> = {}) {
    const perLog = limits.perLog ?? DEFAULT_EVIDENCE_LIMITS.perLog
    const totalBytes = limits.totalBytes ?? DEFAULT_EVIDENCE_LIMITS.totalBytes
    if (!Number.isSafeInteger(perLog) || perLog < 0) throw new RangeError('evidence perLog must be a non-negative integer')
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) throw new RangeError('evidence totalBytes must be a non-negative integer')
    this.#kv = kv
    this.#limits = { perLog, totalBytes }
  }

  /** Returns the latest checkpoint cosigned for `origin`, read from the store, or undefined. */
  async latest(origin: string): Promise<CosignedCheckpoint | undefined> {
    return this.latestByHash(originHash(origin))
  }

  /** Returns the latest checkpoint cosigned for the origin whose SHA-256 is `hash`, or undefined. */
  async latestByHash(hash: Uint8Array): Promise<CosignedCheckpoint | undefined> {
    const v = await this.#kv.get(cosignedKey(hash))
    return v === undefined ? undefined : decodeCosigned(hash, v)
  }

  /**
   * Returns what `fn` returns, running it under the lock of `origin` with the
   * stored state read inside the lock and a `commit` that writes the new
   * state. Requests for one origin run one at a time; other origins run in
   * parallel. `commit` may be called at most once, and only before `fn`
   * settles, so that the check `fn` makes and the write it asks for are
   * atomic with respect to every other update of that origin.
   */
  async update<T>(origin: string, fn: (current: CosignedCheckpoint | undefined, commit: Commit) => Promise<T>): Promise<T> {
    const hash = originHash(origin)
    return this.#locks.run(origin, async () => {
      // Read inside the lock: a value read before it could be overtaken by
      // the update we waited for.
      const current = await this.latestByHash(hash)
      let open = true
      let used = false
      const commit: Commit = async (next) => {
        if (!open) throw new Error(`commit for ${origin} called after its update finished`)
        if (used) throw new Error(`commit for ${origin} called twice in one update`)
        used = true
        await this.#write(hash, origin, current, next)
      }
      try {
        return await fn(current, commit)
      } finally {
        open = false
      }
    })
  }

  async #write(hash: Uint8Array, origin: string, current: CosignedCheckpoint | undefined, next: CosignedCheckpoint): Promise<void> {
    if (next.origin !== origin) throw new Error(`commit for ${origin} got a checkpoint of ${next.origin}`)
    // Second guard, independent of the caller's checks: read the store again
    // and refuse anything that would move the log backwards or sideways.
    // Under the lock nothing else writes this key, so a difference from
    // `current` means a bug or a second writer, and writing would be unsafe.
    const onDisk = await this.latestByHash(hash)
    if (onDisk?.treeSize !== current?.treeSize || (onDisk !== undefined && !bytesEqual(onDisk.rootHash, current!.rootHash))) {
      throw new Error(`stored state of ${origin} changed while its lock was held; refusing to write`)
    }
    if (onDisk !== undefined) {
      if (next.treeSize < onDisk.treeSize) {
        throw new Error(`refusing to store size ${next.treeSize} for ${origin}: size ${onDisk.treeSize} is already cosigned`)
      }
      if (next.treeSize === onDisk.treeSize && !bytesEqual(next.rootHash, onDisk.rootHash)) {
        throw new Error(`refusing to store a second root for size ${next.treeSize} of ${origin}`)
      }
    }
    // One synced batch: when it returns the new size survives a crash, and
    // only then may the caller hand out a cosignature for it.
    await this.#kv.batch([{ type: 'put', key: cosignedKey(hash), value: encodeCosigned(next) }])
  }

  /**
   * Returns the kept record, after storing a refusal as evidence in one
   * synced batch that also drops the oldest records beyond the limits.
   * Returns undefined when the limits keep nothing (a limit of 0, or a
   * record larger than the total budget). Throws StoreWriteError when the
   * write fails; the budget is then reloaded from the store on next use.
   */
  async keepEvidence(input: EvidenceInput): Promise<Evidence | undefined> {
    return this.#evidenceLock.run('evidence', async () => {
      const value = utf8(JSON.stringify({ origin: input.origin, timeMs: input.timeMs, status: input.status, reason: input.reason, message: input.message, request: input.request }))
      if (this.#limits.perLog === 0 || value.length > this.#limits.totalBytes) return undefined
      const tally = (this.#tally ??= await this.#loadTally())
      const seq = tally.nextSeq
      const hash = originHash(input.origin)
      const log = toHex(hash)
      const ops: KvOp[] = [
        { type: 'put', key: evidenceKey(seq), value },
        { type: 'put', key: evidenceIndexKey(hash, seq), value: u32be(value.length) },
      ]
      // Choose what to drop: first this log's oldest beyond its count, then
      // the oldest of any log until the new record fits the byte budget.
      const drop = new Set<number>()
      const mine = tally.records.filter((r) => r.log === log)
      for (let i = 0; mine.length - i + 1 > this.#limits.perLog; i++) drop.add(mine[i]!.seq)
      let total = tally.total + value.length
      for (const r of tally.records) if (drop.has(r.seq)) total -= r.size
      for (const r of tally.records) {
        if (total <= this.#limits.totalBytes) break
        if (drop.has(r.seq)) continue
        drop.add(r.seq)
        total -= r.size
      }
      for (const r of tally.records) {
        if (!drop.has(r.seq)) continue
        ops.push({ type: 'del', key: evidenceKey(r.seq) }, { type: 'del', key: evidenceIndexKey(fromHex(r.log), r.seq) })
      }
      try {
        await this.#kv.batch(ops)
      } catch (err) {
        // The write may or may not have landed: forget the budget and count
        // again from the store next time rather than trust a guess.
        this.#tally = undefined
        throw err
      }
      tally.records = tally.records.filter((r) => !drop.has(r.seq))
      tally.records.push({ seq, log, size: value.length })
      tally.total = total
      tally.nextSeq = seq + 1
      return { id: seq, ...input }
    })
  }

  async #loadTally(): Promise<Tally> {
    // The index holds origin hashes and sizes, not records, so counting the
    // budget never reads the (possibly large) requests themselves.
    const records: TallyRecord[] = []
    let total = 0
    let nextSeq = 0
    for await (const [key, value] of this.#kv.iterate(prefixRange(PREFIX_EVIDENCE_INDEX))) {
      if (key.length !== 1 + HASH_SIZE + 8 || value.length !== 4) throw new TlogError('CORRUPT', 'evidence index entry has the wrong shape')
      const seq = Number(readU64be(key, 1 + HASH_SIZE))
      const size = readU32be(value, 0)
      records.push({ seq, log: toHex(key.subarray(1, 1 + HASH_SIZE)), size })
      total += size
      nextSeq = Math.max(nextSeq, seq + 1)
    }
    records.sort((a, b) => a.seq - b.seq)
    // Sequence numbers are never reused, even after every record was
    // dropped: look at the last record key as well as the index.
    for await (const [key] of this.#kv.iterate({ ...prefixRange(PREFIX_EVIDENCE), reverse: true, limit: 1 })) {
      nextSeq = Math.max(nextSeq, Number(readU64be(key, 1)) + 1)
    }
    return { records, total, nextSeq }
  }

  /** Returns the evidence kept, oldest first; only that of `origin` when given. */
  async evidence(origin?: string): Promise<Evidence[]> {
    const out: Evidence[] = []
    for await (const [key, value] of this.#kv.iterate(prefixRange(PREFIX_EVIDENCE))) {
      const e = parseEvidence(Number(readU64be(key, 1)), value)
      if (origin === undefined || e.origin === origin) out.push(e)
    }
    return out
  }
}

const REASONS: readonly EvidenceReason[] = ['split-view', 'bad-proof', 'bad-empty-root', 'rollback']

function parseEvidence(seq: number, value: Uint8Array): Evidence {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(fromUtf8(value)) as Record<string, unknown>
  } catch (cause) {
    throw new TlogError('CORRUPT', `evidence record ${seq} is not JSON`, { cause })
  }
  if (
    typeof o.origin !== 'string' ||
    typeof o.timeMs !== 'number' ||
    typeof o.status !== 'number' ||
    !REASONS.includes(o.reason as EvidenceReason) ||
    typeof o.message !== 'string' ||
    typeof o.request !== 'string'
  ) {
    throw new TlogError('CORRUPT', `evidence record ${seq} has the wrong shape`)
  }
  return { id: seq, origin: o.origin, timeMs: o.timeMs, status: o.status, reason: o.reason as EvidenceReason, message: o.message, request: o.request }
}
