import { HASH_SIZE, bytesEqual, MAX_INCLUSION_PROOF_LINES, verifyConsistency, type Policy } from '../core/index.ts'
import { cacheState, type VerifyCache } from './cache.ts'
import { checkCheckpoint, describeError, isRefusal } from './checkpoint.ts'
import { resolveNow, resolvePolicy } from './config.ts'
import type { ConsistencyVerdict } from './verdict.ts'

/** Options of verifyCheckpointConsistency. */
export interface VerifyConsistencyOptions {
  /** The tlog-policy: text, or parsed by parsePolicy. */
  policy: Policy | string
  /** The current time, in milliseconds since the Unix epoch (default: the clock). */
  now?: number
  /**
   * Refuse a checkpoint whose verified cosignatures miss the quorum (default
   * true). An auditor following the log's own checkpoints may pass false;
   * bad or future cosignatures are refused either way.
   */
  requireQuorum?: boolean
  cache?: VerifyCache
}

/**
 * Returns the verdict on two checkpoint notes of one log: each passes the
 * checkpoint checks of verifyCheckpoint against `policy` (`which` names the
 * one that failed), then both have the same origin, the old size is at most
 * the new one, and `proof` (RFC 6962 §2.1.2, from tlog-tiles or a witness
 * request) proves the old tree a prefix of the new (INCONSISTENT otherwise;
 * equal sizes need equal roots and an empty proof). A proof hash that is not
 * 32 bytes, or more than 63 of them, is MALFORMED_PROOF. The bare hash check
 * without notes is core's verifyConsistency.
 *
 * Never throws on attacker-controlled input; throws TypeError on misuse and
 * the parser's TlogError for a malformed policy text.
 */
export async function verifyCheckpointConsistency(
  oldCheckpoint: string | Uint8Array,
  newCheckpoint: string | Uint8Array,
  proof: readonly Uint8Array[],
  opts: VerifyConsistencyOptions,
): Promise<ConsistencyVerdict> {
  for (const [what, c] of [['old', oldCheckpoint], ['new', newCheckpoint]] as const) {
    if (typeof c !== 'string' && !(c instanceof Uint8Array)) throw new TypeError(`the ${what} checkpoint must be a string or bytes`)
  }
  if (!Array.isArray(proof)) throw new TypeError('the consistency proof must be an array of hashes')
  if (typeof opts !== 'object' || opts === null) throw new TypeError('verifyCheckpointConsistency needs options with a policy')
  if (opts.requireQuorum !== undefined && typeof opts.requireQuorum !== 'boolean') throw new TypeError('requireQuorum must be a boolean')
  const state = cacheState(opts.cache)
  const policy = resolvePolicy(opts.policy, state)
  const now = resolveNow(opts.now)
  const requireQuorum = opts.requireQuorum ?? true

  const older = await checkCheckpoint(oldCheckpoint, policy, now, requireQuorum, state)
  if (isRefusal(older)) return { ok: false, which: 'old', reason: older.reason, message: `old checkpoint: ${older.message}` }
  const newer = await checkCheckpoint(newCheckpoint, policy, now, requireQuorum, state)
  if (isRefusal(newer)) return { ok: false, which: 'new', reason: newer.reason, message: `new checkpoint: ${newer.message}`, old: older.verified }
  const both = { old: older.verified, new: newer.verified }

  if (proof.length > MAX_INCLUSION_PROOF_LINES) {
    return { ok: false, reason: 'MALFORMED_PROOF', message: `consistency proof: more than ${MAX_INCLUSION_PROOF_LINES} hashes`, ...both }
  }
  const badHash = proof.findIndex((h) => !(h instanceof Uint8Array) || h.length !== HASH_SIZE)
  if (badHash >= 0) return { ok: false, reason: 'MALFORMED_PROOF', message: `consistency proof: hash ${badHash} is not ${HASH_SIZE} bytes`, ...both }

  const a = older.checkpoint
  const b = newer.checkpoint
  if (a.origin !== b.origin) {
    return { ok: false, reason: 'INCONSISTENT', message: `consistency: the checkpoints are of different logs (${JSON.stringify(a.origin)}, ${JSON.stringify(b.origin)})`, ...both }
  }
  if (a.treeSize > b.treeSize) {
    return { ok: false, reason: 'INCONSISTENT', message: `consistency: the old checkpoint (size ${a.treeSize}) is larger than the new one (size ${b.treeSize})`, ...both }
  }
  let consistent: boolean
  try {
    consistent = verifyConsistency(a.treeSize, b.treeSize, proof, a.rootHash, b.rootHash)
  } catch (e) {
    return { ok: false, reason: 'INCONSISTENT', message: `consistency: ${describeError(e)}`, ...both }
  }
  if (!consistent) {
    const message =
      a.treeSize !== b.treeSize
        ? `consistency: the proof does not show the tree of size ${a.treeSize} is a prefix of the tree of size ${b.treeSize}`
        : bytesEqual(a.rootHash, b.rootHash)
          ? `consistency: checkpoints of equal size need an empty proof, not ${proof.length} hashes`
          : `consistency: two checkpoints of size ${a.treeSize} with different roots: a split view`
    return { ok: false, reason: 'INCONSISTENT', message, ...both }
  }
  return { ok: true, ...both }
}
