import {
  EMPTY_ROOT,
  SIG_TYPE_COSIGNATURE_V1,
  TlogError,
  bytesEqual,
  checkSignatures,
  cosignatureSigner,
  encodeNote,
  fromUtf8,
  parseAddCheckpointRequest,
  parseCheckpoint,
  parseNote,
  toBase64,
  utf8,
  verifyConsistency,
  type Checkpoint,
  type Note,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type SignerKey,
  type TlogErrorCode,
} from '../src/core/index.ts'
import { StoreWriteError } from '../src/storage/index.ts'
import type { WitnessMetrics } from './metrics.ts'
import type { CosignedCheckpoint, EvidenceReason, WitnessState } from './state.ts'

/**
 * The witness's one domain operation, c2sp.org/tlog-witness `add-checkpoint`,
 * and the read of what it cosigned. HTTP lives in app.ts; this file decides.
 *
 * Order of checks (each answer stays reachable, and everything that needs no
 * stored state is checked before the lock is taken):
 *
 *  1. body size (413) and syntax: request, note, checkpoint (400);
 *  2. origin known (404);
 *  3. log signatures: a trusted key's line that fails, or no trusted line
 *     that verifies (403) — from here on the request is attributable to the
 *     log, so refusals below may be kept as evidence;
 *  4. old size above the checkpoint size (400);
 *  — take the origin's lock and read the stored state —
 *  5. old size different from the stored size (409, body = stored size);
 *  6. a non-empty proof with old 0 (422);
 *  7. a size-0 checkpoint whose root is not the empty-tree hash (422);
 *  8. same size as stored: another root (422, split view), a non-empty
 *     proof (422), else cosign again without writing (200);
 *  9. a consistency proof from the stored root that does not verify (422);
 *  10. cosign, then (test hook) then one synced write, then answer (200).
 */

/** A log the witness knows: its origin line and the keys trusted to sign its checkpoints. */
export interface WitnessedLog {
  origin: string
  /** Verifiers of the log's keys (type 0x01). Their names need not equal the origin. */
  verifiers: readonly NoteVerifier[]
}

/** HTTP status of each error code, as tlog-witness and STYLE.md "Errors" define them. */
export const WITNESS_STATUS_OF: Readonly<Record<TlogErrorCode, number>> = Object.freeze({
  MALFORMED: 400,
  STALE: 400,
  BAD_SIGNATURE: 403,
  UNTRUSTED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_PROOF: 422,
  OVERLOADED: 503,
  CORRUPT: 500,
  REVOKED: 403,
  RATE_LIMITED: 429,
  TIMEOUT: 408,
})

/**
 * A refusal of add-checkpoint after the log's signature verified. `storedSize`
 * is the size the witness holds (the 409 body); `evidence` says why the
 * request is kept as evidence of misbehaviour, when it is.
 */
export class WitnessRefusal extends TlogError {
  override name = 'WitnessRefusal'
  /** The size of the latest checkpoint cosigned for the origin (set for CONFLICT). */
  readonly storedSize: number | undefined
  /** Why the request is evidence, when it is. */
  readonly evidence: EvidenceReason | undefined

  /** Returns a refusal with `code` (CONFLICT or BAD_PROOF) and a message for the log's operator. */
  constructor(code: TlogErrorCode, message: string, opts: { storedSize?: number; evidence?: EvidenceReason } = {}) {
    super(code, message)
    this.storedSize = opts.storedSize
    this.evidence = opts.evidence
  }
}

/**
 * Returns the cosignature/v1 signer of a witness key file's key. `now` is
 * the clock in ms since the epoch; timestamps are whole seconds
 * (tlog-cosignature). Throws TypeError when the key is not a witness key.
 */
export function witnessCosigner(key: SignerKey, now: () => number): NoteSigner {
  if (key.type !== SIG_TYPE_COSIGNATURE_V1) {
    throw new TypeError(`the key ${key.name} has signature type ${key.type}; a witness key has type 4 (cosignature/v1): make one with actlog keygen --kind witness`)
  }
  return cosignatureSigner(key.name, key.seed, () => Math.floor(now() / 1000))
}

/** What the witness needs. */
export interface WitnessDeps {
  state: WitnessState
  logs: readonly WitnessedLog[]
  /** The witness's cosignature/v1 signer (see witnessCosigner). */
  cosigner: NoteSigner
  /** The clock, in ms since the epoch: evidence times (cosignature times come from the cosigner). */
  now: () => number
  metrics?: WitnessMetrics
  /**
   * Test-only: awaited under the origin's lock after every check passed and
   * before the synced write. A test parks a request here to race another.
   */
  beforeStore?: (origin: string) => Promise<void>
  /** Where failures that do not change the answer (an evidence write) are reported. */
  logError?: (err: unknown) => void
}

function keyLabel(v: { name: string; keyId: number }): string {
  return `${v.name}+${v.keyId.toString(16).padStart(8, '0')}`
}

/** A tlog-witness: checks checkpoints of known logs, cosigns them, never goes back. */
export class Witness {
  readonly #deps: WitnessDeps
  readonly #logs = new Map<string, WitnessedLog>()

  /** Returns a witness of `deps.logs`. Throws TypeError on a duplicate origin or a log without keys. */
  constructor(deps: WitnessDeps) {
    for (const log of deps.logs) {
      if (typeof log.origin !== 'string' || log.origin.length === 0) throw new TypeError('a witnessed log needs a non-empty origin')
      if (this.#logs.has(log.origin)) throw new TypeError(`the log ${JSON.stringify(log.origin)} is listed twice`)
      if (log.verifiers.length === 0) throw new TypeError(`the log ${JSON.stringify(log.origin)} has no keys`)
      this.#logs.set(log.origin, log)
    }
    this.#deps = deps
  }

  /** Returns the origins this witness witnesses, in configuration order. */
  get origins(): string[] {
    return [...this.#logs.keys()]
  }

  /**
   * Returns this witness's cosignature line(s) on the checkpoint of an
   * add-checkpoint request `body`, after storing it as the latest cosigned
   * checkpoint of its log (see the order of checks above). Throws TlogError
   * (WitnessRefusal for 409 and 422) when refusing, and StoreWriteError when
   * the write failed: no cosignature is returned for a checkpoint that is
   * not durably stored.
   */
  async addCheckpoint(body: Uint8Array): Promise<NoteSignature[]> {
    const req = parseAddCheckpointRequest(body)
    const note = parseNote(req.checkpoint)
    const cp = parseCheckpoint(note.text)
    const log = this.#logs.get(cp.origin)
    if (log === undefined) {
      throw new TlogError('NOT_FOUND', `this witness does not witness the log ${JSON.stringify(cp.origin)}; its operator must add the origin and the log's key`)
    }
    const logLines = await this.#verifyLogSignatures(note, log)
    if (req.oldSize > cp.treeSize) {
      throw new TlogError('MALFORMED', `old size ${req.oldSize} is larger than the checkpoint size ${cp.treeSize}`)
    }
    const { metrics } = this.#deps
    let signatures: NoteSignature[]
    try {
      signatures = await this.#deps.state.update(cp.origin, async (current, commit) => {
        this.#checkAgainst(current, req.oldSize, req.proof, cp)
        if (current !== undefined && current.treeSize === cp.treeSize) {
          // The very checkpoint already cosigned (same size, same root):
          // cosign it again; the stored state already says this tree.
          return this.#cosign(note.text)
        }
        const sigs = await this.#cosign(note.text)
        const next: CosignedCheckpoint = {
          origin: cp.origin,
          treeSize: cp.treeSize,
          rootHash: cp.rootHash,
          note: encodeNote({ text: note.text, signatures: [...logLines, ...sigs] }),
        }
        await this.#deps.beforeStore?.(cp.origin)
        // Persist before answering (tlog-witness): once commit returns the
        // new size survives a crash, so the cosignature we hand out can
        // never be followed by one for a smaller tree.
        await commit(next)
        metrics?.treeSize.set({ origin: cp.origin }, cp.treeSize)
        return sigs
      })
    } catch (err) {
      // Evidence is written after the origin's lock is released: it never
      // touches the cosigned state, so it need not delay the next request.
      if (err instanceof WitnessRefusal && err.evidence !== undefined) await this.#keepEvidence(err, cp.origin, body)
      if (err instanceof StoreWriteError) metrics?.storeWriteFailures.inc({ persisted: String(err.persisted) })
      throw err
    }
    metrics?.cosignatures.inc({ origin: cp.origin }, signatures.length)
    return signatures
  }

  /**
   * Returns the log's signature lines to keep with the cosigned note: those
   * of trusted keys that verified, once per key, in note order. Throws
   * BAD_SIGNATURE when a line of a trusted key (name and key ID) fails, and
   * UNTRUSTED when no trusted key's line verifies. Lines of unknown keys
   * (other algorithms, other witnesses) are ignored, as signed-note says.
   */
  async #verifyLogSignatures(note: Note, log: WitnessedLog): Promise<NoteSignature[]> {
    const checks = await checkSignatures(note, log.verifiers)
    const failed = checks.find((c) => c.verifier !== undefined && !c.valid)
    if (failed !== undefined) {
      throw new TlogError(
        'BAD_SIGNATURE',
        `the signature line of ${keyLabel(failed.signature)}, a key this witness trusts for ${JSON.stringify(log.origin)}, does not verify: the checkpoint was altered or signed with another key`,
      )
    }
    const seen = new Set<string>()
    const lines: NoteSignature[] = []
    for (const c of checks) {
      const id = keyLabel(c.signature)
      if (!c.valid || seen.has(id)) continue
      seen.add(id)
      lines.push(c.signature)
    }
    if (lines.length === 0) {
      throw new TlogError(
        'UNTRUSTED',
        `the checkpoint carries no signature by a key this witness trusts for ${JSON.stringify(log.origin)} (trusted: ${log.verifiers.map(keyLabel).join(', ')})`,
      )
    }
    return lines
  }

  /** Throws a WitnessRefusal unless the checkpoint may follow `current` (checks 5 to 9). Runs under the lock. */
  #checkAgainst(current: CosignedCheckpoint | undefined, oldSize: number, proof: readonly Uint8Array[], cp: Checkpoint): void {
    const origin = JSON.stringify(cp.origin)
    const stored = current?.treeSize ?? 0
    if (oldSize !== stored) {
      // The client is out of date: answer the size to resync from. A signed
      // checkpoint smaller than the one cosigned, or of the same size with
      // another root, is kept as well: a log restored from an old backup,
      // or a split view, shows up here first.
      let evidence: EvidenceReason | undefined
      if (current !== undefined && cp.treeSize < current.treeSize) evidence = 'rollback'
      else if (current !== undefined && cp.treeSize === current.treeSize && !bytesEqual(cp.rootHash, current.rootHash)) evidence = 'split-view'
      throw new WitnessRefusal(
        'CONFLICT',
        `old size ${oldSize} is not the size this witness last cosigned for ${origin} (${stored}); resend with old ${stored} and a consistency proof from it`,
        evidence === undefined ? { storedSize: stored } : { storedSize: stored, evidence },
      )
    }
    if (oldSize === 0 && proof.length > 0) {
      throw new WitnessRefusal('BAD_PROOF', `a request with old 0 must carry no consistency proof; this one has ${proof.length} line(s)`, { evidence: 'bad-proof' })
    }
    if (cp.treeSize === 0 && !bytesEqual(cp.rootHash, EMPTY_ROOT)) {
      throw new WitnessRefusal('BAD_PROOF', `a checkpoint of size 0 must have the empty-tree root ${toBase64(EMPTY_ROOT)}; this one has ${toBase64(cp.rootHash)}`, {
        evidence: 'bad-empty-root',
      })
    }
    if (current !== undefined && cp.treeSize === current.treeSize) {
      if (!bytesEqual(cp.rootHash, current.rootHash)) {
        throw new WitnessRefusal(
          'BAD_PROOF',
          `this witness cosigned size ${stored} of ${origin} with root ${toBase64(current.rootHash)}; this checkpoint has the same size and root ${toBase64(cp.rootHash)} (a split view, kept as evidence)`,
          { evidence: 'split-view' },
        )
      }
      if (proof.length > 0) {
        throw new WitnessRefusal('BAD_PROOF', `the checkpoint has the size already cosigned (${stored}); its consistency proof must be empty`, { evidence: 'bad-proof' })
      }
      return
    }
    // From old 0 there is nothing to be consistent with: the first
    // checkpoint of a log is trusted on its signature alone.
    if (oldSize > 0 && !verifyConsistency(oldSize, cp.treeSize, proof, current!.rootHash, cp.rootHash)) {
      throw new WitnessRefusal(
        'BAD_PROOF',
        `the consistency proof from size ${oldSize} (root ${toBase64(current!.rootHash)}) to size ${cp.treeSize} does not verify (kept as evidence)`,
        { evidence: 'bad-proof' },
      )
    }
  }

  async #cosign(text: string): Promise<NoteSignature[]> {
    const { cosigner } = this.#deps
    return [{ name: cosigner.name, keyId: cosigner.keyId, signature: await cosigner.sign(utf8(text)) }]
  }

  async #keepEvidence(err: WitnessRefusal, origin: string, body: Uint8Array): Promise<void> {
    const { metrics } = this.#deps
    // Keeping evidence never changes the answer: a failed write is reported
    // and counted, and the refusal stands.
    try {
      const kept = await this.#deps.state.keepEvidence({
        origin,
        timeMs: this.#deps.now(),
        status: WITNESS_STATUS_OF[err.code],
        reason: err.evidence!,
        message: err.message,
        request: fromUtf8(body),
      })
      if (kept !== undefined) metrics?.evidence.inc({ origin, reason: err.evidence! })
    } catch (e) {
      metrics?.evidenceWriteFailures.inc()
      this.#deps.logError?.(e)
    }
  }

  /**
   * Returns the latest checkpoint cosigned for the origin whose SHA-256 is
   * `hash` (the tlog-witness monitoring API): the note with the log's
   * signature lines and this witness's cosignature, or undefined.
   */
  async latestCosigned(hash: Uint8Array): Promise<string | undefined> {
    return (await this.#deps.state.latestByHash(hash))?.note
  }

  /** Sets the per-origin tree size gauge from the store, for every configured log that has a cosigned checkpoint. */
  async refreshGauges(): Promise<void> {
    const { metrics } = this.#deps
    if (metrics === undefined) return
    for (const origin of this.#logs.keys()) {
      const c = await this.#deps.state.latest(origin)
      if (c !== undefined) metrics.treeSize.set({ origin }, c.treeSize)
    }
  }
}
