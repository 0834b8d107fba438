import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import {
  TILE_WIDTH,
  TlogError,
  checkNotRevoked,
  checkRevocationAuthority,
  leafHash,
  parseEntryBundle,
  parseSign1,
  revocationOfSign1,
  revocationRecord,
  RevocationState,
  REVOCATION_CONTENT_TYPE,
  toHex,
  type Credential,
  type RevocationAuthority,
  type RevocationRecord,
  type SignedRevocation,
  type SignedStatement,
  type TrustedIssuers,
} from '../core/index.ts'
import type { LogStore } from '../storage/index.ts'

/**
 * The log's revocation state (DESIGN.md "Revocation entries"): which
 * (subject, key) pairs revocation entries in the log have revoked, and from
 * which index on. It is admission's `revocations` hook and the sequencer's
 * `inOrder` check.
 *
 * Two checks use it. Admission refuses, before any signature is verified, a
 * submission whose chain holds a pair revoked by a committed entry. And the
 * sequencer, as it gives a batch its indices, decides every entry again in
 * index order (`decideBatch`), counting the revocations earlier in the same
 * batch: a revocation and a statement by the revoked key admitted at the
 * same moment are never both sequenced after the revocation.
 *
 * Durability: the state is derived from the log's own entries, so a
 * revocation is as durable as its entry. Its record (`revocations.json` in
 * the data directory: the state and the tree size it covers) is rewritten
 * after every batch that adds a revocation and when the log closes; at start
 * the entries after the size it covers are read again (all of them when the
 * record is missing), like the dedup index.
 */

const FILE = 'revocations.json'

interface RecordFile {
  treeSize: number
  revocations: RevocationRecord[]
}

/** What a batch decision keeps, for `commit` once the batch is durable. */
export interface BatchDecision {
  /** Per entry, in order: undefined to sequence it, or why it is refused. */
  refusals: (TlogError | undefined)[]
  /** Revocations the kept entries make, with their indices. */
  added: RevocationRecord[]
}

/** The log's revocations: the committed state and the authority of revocations admitted but not yet sequenced. */
export class LogRevocations {
  readonly #dir: string
  #state: RevocationState
  #treeSize: number
  // Admission checked each revocation's authority; the sequencer needs it
  // when it records the revocation, by the entry's leaf hash.
  readonly #admitted = new Map<string, RevocationAuthority>()

  private constructor(dir: string, state: RevocationState, treeSize: number) {
    this.#dir = dir
    this.#state = state
    this.#treeSize = treeSize
  }

  /**
   * Opens the state of the log in `dataDir`: its record, then every entry
   * after the size the record covers, read from `store` (a missing or
   * unreadable record is rebuilt from all entries). `onRebuild` hears how
   * many entries are read.
   */
  static async open(dataDir: string, store: LogStore, issuers: TrustedIssuers, onRebuild?: (from: number, to: number) => void): Promise<LogRevocations> {
    let rec: RecordFile = { treeSize: 0, revocations: [] }
    let state = new RevocationState()
    try {
      const parsed = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as RecordFile
      if (!Number.isSafeInteger(parsed.treeSize) || parsed.treeSize < 0) throw new Error('no tree size')
      state = RevocationState.fromJSON(parsed.revocations)
      rec = parsed
    } catch {
      // No usable record: every entry is read again below.
    }
    const size = (await store.getTreeState())?.treeSize ?? 0
    // A record covering more than the store holds is of another data
    // directory's history; trust only the log's entries then.
    if (rec.treeSize > size) {
      rec = { treeSize: 0, revocations: [] }
      state = new RevocationState()
    }
    const r = new LogRevocations(dataDir, state, rec.treeSize)
    if (rec.treeSize < size) {
      onRebuild?.(rec.treeSize, size)
      await r.#scan(store, issuers, rec.treeSize, size)
      r.#treeSize = size
      r.#save()
    }
    return r
  }

  /** Reads the entries [from, to) and adds the revocations among them. */
  async #scan(store: LogStore, issuers: TrustedIssuers, from: number, to: number): Promise<void> {
    for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < to; b++) {
      const width = Math.min(TILE_WIDTH, to - b * TILE_WIDTH)
      const [bytes] = await store.getTiles([{ level: 'entries', index: b, width }])
      if (bytes === undefined) throw new TlogError('CORRUPT', `entry bundle ${b} is missing; the revocation state cannot be rebuilt`)
      const entries = parseEntryBundle(bytes).slice(0, width)
      for (let i = Math.max(0, from - b * TILE_WIDTH); i < entries.length; i++) {
        const e = parseSign1(entries[i]!)
        if (e.contentType !== REVOCATION_CONTENT_TYPE) continue
        const r = revocationOfSign1(e)
        // The log accepted it after checking its signature; its authority
        // is worked out again for the record (the issuers file may have
        // changed; the revocation stands either way, as it did when logged).
        const authority = await checkRevocationAuthority(r, { issuers }).then(
          (v) => v.authority,
          () => 'issuer' as const,
        )
        if (this.#state.revokedAt(r.credentials, b * TILE_WIDTH + i) !== undefined) continue
        this.#state.add(revocationRecord(b * TILE_WIDTH + i, r, authority))
      }
    }
  }

  /** Number of revocations in effect. */
  get size(): number {
    return this.#state.size
  }

  /** Returns the revocations in effect, in log order. */
  list(): RevocationRecord[] {
    return this.#state.toJSON()
  }

  /** Throws REVOKED when `chain` holds a pair a committed revocation revoked (admission's early check, its `revocations` hook). */
  check(entry: SignedStatement | SignedRevocation, chain: readonly Credential[]): void {
    checkNotRevoked(chain, Number.MAX_SAFE_INTEGER, this.#state, 'statement' in entry ? 'statement' : 'revocation')
  }

  /** Remembers the authority admission found for a revocation, until the sequencer records it. */
  admitted(r: SignedRevocation, authority: RevocationAuthority): void {
    this.#admitted.set(toHex(leafHash(r.entry)), authority)
  }

  /**
   * Decides the entries of a batch about to take the indices from
   * `firstIndex` on, in index order: an entry whose chain holds a pair
   * revoked by a committed revocation or by a revocation kept earlier in
   * this batch is refused REVOKED (and takes no index). Pure: the state
   * changes only at `commit`.
   */
  decideBatch(entries: readonly Uint8Array[], firstIndex: number): BatchDecision {
    const refusals: (TlogError | undefined)[] = []
    const added: RevocationRecord[] = []
    let pending: RevocationState | undefined
    let index = firstIndex
    for (const bytes of entries) {
      // Statements are skipped outright while no revocation is in effect or
      // pending: the check then costs one envelope parse per entry.
      const e = parseSign1(bytes)
      const isRevocation = e.contentType === REVOCATION_CONTENT_TYPE
      if (!isRevocation && this.#state.size === 0 && pending === undefined) {
        refusals.push(undefined)
        index++
        continue
      }
      try {
        checkNotRevoked(e.credentials, index, this.#state, isRevocation ? 'revocation' : 'statement')
        if (pending !== undefined) checkNotRevoked(e.credentials, index, pending, isRevocation ? 'revocation' : 'statement')
      } catch (err) {
        refusals.push(err as TlogError)
        continue
      }
      refusals.push(undefined)
      if (isRevocation) {
        const r = revocationOfSign1(e)
        const authority = this.#admitted.get(toHex(leafHash(bytes))) ?? 'issuer'
        const rec = revocationRecord(index, r, authority)
        if (pending === undefined) pending = new RevocationState()
        pending.add(rec)
        added.push(rec)
      }
      index++
    }
    return { refusals, added }
  }

  /**
   * Makes a batch's decision take effect once the batch is durable, and
   * rewrites the record when it added revocations (before the submitters
   * hear back; the log's entries would rebuild it anyway).
   */
  commit(d: BatchDecision, treeSize: number, batchEntries: readonly Uint8Array[]): void {
    for (const r of d.added) this.#state.add(r)
    if (this.#admitted.size > 0) for (const e of batchEntries) this.#admitted.delete(toHex(leafHash(e)))
    this.#treeSize = treeSize
    if (d.added.length > 0) this.#save()
  }

  /** Writes the record of the state (at close, so the next start reads nothing again). */
  close(): void {
    this.#save()
  }

  #save(): void {
    const file = join(this.#dir, FILE)
    const tmp = `${file}.tmp`
    const fd = openSync(tmp, 'w', 0o644)
    try {
      writeSync(fd, JSON.stringify({ treeSize: this.#treeSize, revocations: this.#state.toJSON() } satisfies RecordFile) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
    const dfd = openSync(this.#dir, 'r')
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  }
}

