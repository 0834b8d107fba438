/**
 * Storage faults for real actlog processes (loaded by faulty-actlog.js
 * before the CLI): wraps the LevelDB store the log or the witness opens in a
 * FaultyKv, so every layer above the disk (KvLogStore or WitnessState, the
 * sequencer, the CLI's onFatal and its exit status) is the production code.
 *
 * ACTLOG_TEST_FAULTS is a comma-separated list of `<n>:<mode>`, counting the
 * batch writes of the process's store from 1:
 *
 * - `before`: write n fails without writing (`persisted: false`);
 * - `after`: write n is written, then fails (`persisted: 'unknown'`);
 * - `enospc`: from write n on, every write fails as a full disk through
 *   FaultyKv.failAll (`persisted: false`, ENOSPC);
 * - `io-enospc`: from write n on, every write fails as LevelDB itself fails
 *   on a full disk (LEVEL_IO_ERROR "No space left on device", mapped by
 *   toStoreWriteError to `persisted: 'unknown'`), without writing;
 * - `drop`: from write n on, writes claim success and store nothing;
 * - `volatile`: from write n on, writes are kept in memory only, where the
 *   process reads them back, and a crash loses them (a disk that
 *   acknowledges what it has not stored). The last two are only for checking
 *   that the checkers (the crash soak) see the loss.
 */
import { basename } from 'node:path'
import { FaultyKv, INDEX_DIR, LevelKv, toStoreWriteError, type KvOp, type KvRange, type KvStore, type LevelKvOptions } from '../../src/storage/index.ts'

type Mode = 'before' | 'after' | 'enospc' | 'io-enospc' | 'drop' | 'volatile'

/** Returns the plans of a fault specification; throws on a bad one. */
export function parseFaults(spec: string): { n: number; mode: Mode }[] {
  if (spec.trim() === '') return []
  return spec.split(',').map((p) => {
    const m = /^\s*(\d+):(before|after|enospc|io-enospc|drop|volatile)\s*$/.exec(p)
    if (m === null) throw new TypeError(`ACTLOG_TEST_FAULTS: bad plan ${JSON.stringify(p)} (want <n>:before|after|enospc|io-enospc|drop|volatile)`)
    return { n: Number(m[1]), mode: m[2] as Mode }
  })
}

/** A KvStore whose batches fail as planned; everything else forwards to FaultyKv over LevelDB. */
export class PlannedFaultsKv implements KvStore {
  readonly #faulty: FaultyKv
  readonly #dir: string
  #calls = 0
  #enospcFrom = Infinity
  #ioFrom = Infinity
  #dropFrom = Infinity
  #volatileFrom = Infinity
  /** Writes kept in memory only (`volatile`): hex key -> value, or null for a delete. */
  readonly #volatile = new Map<string, Uint8Array | null>()

  constructor(inner: LevelKv, plans: { n: number; mode: Mode }[]) {
    this.#faulty = new FaultyKv(inner)
    this.#dir = inner.dir
    for (const { n, mode } of plans) {
      if (mode === 'before' || mode === 'after') this.#faulty.failAt(n, mode)
      else if (mode === 'enospc') this.#enospcFrom = Math.min(this.#enospcFrom, n)
      else if (mode === 'io-enospc') this.#ioFrom = Math.min(this.#ioFrom, n)
      else if (mode === 'drop') this.#dropFrom = Math.min(this.#dropFrom, n)
      else this.#volatileFrom = Math.min(this.#volatileFrom, n)
    }
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const v = this.#volatile.get(hex(key))
    if (v !== undefined) return v === null ? undefined : v.slice()
    return this.#faulty.get(key)
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const stored = await this.#faulty.getMany(keys)
    return keys.map((k, i) => {
      const v = this.#volatile.get(hex(k))
      return v === undefined ? stored[i] : v === null ? undefined : v.slice()
    })
  }

  async batch(ops: readonly KvOp[]): Promise<void> {
    const call = ++this.#calls
    if (call >= this.#dropFrom) return
    if (call >= this.#volatileFrom) {
      for (const op of ops) this.#volatile.set(hex(op.key), op.type === 'put' ? op.value.slice() : null)
      return
    }
    if (call >= this.#ioFrom) {
      const native = Object.assign(new Error(`IO error: ${this.#dir}/000003.log: No space left on device`), { code: 'LEVEL_IO_ERROR' })
      throw toStoreWriteError(native, this.#dir)
    }
    if (call >= this.#enospcFrom) this.#faulty.failAll()
    return this.#faulty.batch(ops)
  }

  iterate(range?: KvRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    // The log never iterates; the witness does, but is not run volatile.
    if (this.#volatile.size > 0) throw new Error('iterate is not supported over volatile writes')
    return this.#faulty.iterate(range)
  }

  close(): Promise<void> {
    return this.#faulty.close()
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

const plans = parseFaults(process.env.ACTLOG_TEST_FAULTS ?? '')
if (plans.length > 0) {
  const open = LevelKv.open.bind(LevelKv)
  // The log (openLevelLogStore) and the witness (startWitness) open their
  // store through LevelKv.open: hand them the faulty wrapper instead. The
  // log's dedup index stays as it is, so that the plans count the writes of
  // the store that holds the tree.
  ;(LevelKv as unknown as { open: (dir: string, opts?: LevelKvOptions) => Promise<KvStore> }).open = async (dir: string, opts?: LevelKvOptions) => {
    const kv = await open(dir, opts)
    return basename(dir) === INDEX_DIR ? kv : new PlannedFaultsKv(kv, plans)
  }
}
