import {
  MAX_NOTE_SIZE,
  checkSignatures,
  cosignatureTimestamp,
  cosignatureVerifier,
  earliestQuorumTime,
  ed25519Verifier,
  fromUtf8,
  isTlogError,
  parseCheckpoint,
  parseNote,
  quorumSatisfied,
  sha256,
  toBase64,
  toHex,
  utf8,
  QUORUM_NONE,
  type Checkpoint,
  type Note,
  type NoteVerifier,
  type Policy,
} from '../core/index.ts'
import { cacheState, type CachedCheckpoint, type VerifyCache, type VerifyCacheState } from './cache.ts'
import { policyKeysId, resolveNow, resolvePolicy } from './config.ts'
import { MAX_COSIGNATURE_SKEW_MS, type ReasonCode } from './reasons.ts'
import type { CheckpointVerdict, VerifiedCheckpoint } from './verdict.ts'

/**
 * The checkpoint checks shared by every verdict, in order: strict parse of
 * the note and its checkpoint body (MALFORMED_CHECKPOINT), the log signature
 * (UNKNOWN_LOG, BAD_LOG_SIGNATURE), then the witnesses (BAD_COSIGNATURE,
 * FUTURE_COSIGNATURE, QUORUM_NOT_MET).
 */

/** A failed check: its reason code and a message naming the check. */
export interface Refusal {
  reason: ReasonCode
  message: string
}

/** Returns a Refusal. */
export function refuse(reason: ReasonCode, message: string): Refusal {
  return { reason, message }
}

/** Returns whether `v` is a Refusal rather than a result. */
export function isRefusal(v: object): v is Refusal {
  return 'reason' in v
}

/**
 * Returns the message of a TlogError (a designed refusal by core), or for any
 * other error a description starting `internal error:`, so tests can tell a
 * bug that was turned into a refusal from a check that refused.
 */
export function describeError(e: unknown): string {
  if (isTlogError(e)) return e.message
  return `internal error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`
}

function isoSeconds(s: number): string {
  const d = new Date(s * 1000)
  return Number.isNaN(d.getTime()) ? `${s} s` : d.toISOString()
}

function isoMillis(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString()
}

/**
 * Returns the note and its checkpoint after the signature checks (log key
 * and every policy witness key that signed it), or the refusal. Does not
 * look at time or quorum: the result holds for any `now` and any quorum,
 * which is what lets it be cached.
 */
async function checkSignedCheckpoint(
  input: string | Uint8Array,
  policy: Policy,
  state: VerifyCacheState | undefined,
): Promise<CachedCheckpoint | Refusal> {
  // Size first: hashing or parsing an unbounded input would be the attacker's
  // choice of cost. A string's UTF-8 form is never shorter than its length.
  if (input.length > MAX_NOTE_SIZE) return refuse('MALFORMED_CHECKPOINT', `checkpoint: the note is larger than ${MAX_NOTE_SIZE} bytes`)
  let text: string
  try {
    text = typeof input === 'string' ? input : fromUtf8(input)
  } catch (e) {
    return refuse('MALFORMED_CHECKPOINT', `checkpoint: ${describeError(e)}`)
  }
  if (state === undefined) return checkNoteSignatures(text, policy)

  // The key binds the exact note text to the policy's keys; a hit means these
  // very bytes passed these very signature checks before.
  const key = toHex(sha256(utf8(`${policyKeysId(policy)}\n\n${text}`)))
  const hit = state.checkpoints.get(key)
  if (hit !== undefined) {
    state.counters.checkpointHits++
    return hit
  }
  const running = state.pending.get(key) as Promise<CachedCheckpoint | Refusal> | undefined
  if (running !== undefined) {
    state.counters.checkpointHits++
    return running
  }
  state.counters.checkpointMisses++
  const check = checkNoteSignatures(text, policy)
  state.pending.set(key, check)
  try {
    const result = await check
    if (!isRefusal(result)) state.checkpoints.set(key, result)
    return result
  } finally {
    state.pending.delete(key)
  }
}

/** Parses the note and checks its log signature and policy witness cosignatures (no time, no quorum). */
async function checkNoteSignatures(text: string, policy: Policy): Promise<CachedCheckpoint | Refusal> {
  let note: Note
  let checkpoint: Checkpoint
  try {
    note = parseNote(text)
    checkpoint = parseCheckpoint(note.text)
  } catch (e) {
    return refuse('MALFORMED_CHECKPOINT', `checkpoint: ${describeError(e)}`)
  }

  // tlog-policy: the log's key name is its origin, so only keys named like
  // the origin can vouch for this checkpoint; a key of another log of the
  // same policy signing it proves nothing about this log.
  const logVerifiers: NoteVerifier[] = policy.logs.filter((l) => l.key.name === checkpoint.origin).map((l) => ed25519Verifier(l.key.name, l.key.publicKey))
  if (logVerifiers.length === 0) {
    return refuse('UNKNOWN_LOG', `log signature: the policy has no log key for origin ${JSON.stringify(checkpoint.origin)}`)
  }
  const signedByLog = note.signatures.some((s) => logVerifiers.some((v) => v.name === s.name && v.keyId === s.keyId))
  if (!signedByLog) {
    return refuse('UNKNOWN_LOG', `log signature: the checkpoint carries no signature by the policy's log key for ${JSON.stringify(checkpoint.origin)}`)
  }

  const witnessOf = new Map<NoteVerifier, string>()
  for (const [name, w] of policy.witnesses) witnessOf.set(cosignatureVerifier(w.key.name, w.key.publicKey), name)
  // One pass over all lines, so the log's and the witnesses' verifications
  // run concurrently; lines of keys the policy does not list (other
  // witnesses, other signature types such as ML-DSA-44) match no verifier
  // and are ignored.
  const checks = await checkSignatures(note, [...logVerifiers, ...witnessOf.keys()])

  let logName: string | undefined
  for (const c of checks) {
    if (c.verifier === undefined || witnessOf.has(c.verifier)) continue
    if (!c.valid) return refuse('BAD_LOG_SIGNATURE', `log signature: the signature of ${c.signature.name} on the checkpoint does not verify`)
    logName = c.verifier.name
  }
  if (logName === undefined) return refuse('UNKNOWN_LOG', 'log signature: no policy log key signed the checkpoint')

  const cosignatures: CachedCheckpoint['cosignatures'] = []
  for (const c of checks) {
    const witness = c.verifier === undefined ? undefined : witnessOf.get(c.verifier)
    if (witness === undefined) continue
    if (!c.valid) return refuse('BAD_COSIGNATURE', `witness quorum: the cosignature of witness ${witness} (key ${c.signature.name}) does not verify`)
    cosignatures.push({ witness, timestamp: cosignatureTimestamp(c.signature.signature) })
  }
  return { checkpoint, log: logName, cosignatures }
}

/**
 * Applies the time and quorum rules to a signature-checked checkpoint:
 * FUTURE_COSIGNATURE for any policy witness cosignature beyond now + 10
 * minutes, then QUORUM_NOT_MET unless `requireQuorum` is false.
 */
function judgeCheckpoint(signed: CachedCheckpoint, policy: Policy, now: number, requireQuorum: boolean): VerifiedCheckpoint | Refusal {
  const earliest = new Map<string, number>()
  for (const { witness, timestamp } of signed.cosignatures) {
    // Compared in milliseconds, as `now` is; an Infinity timestamp (beyond
    // 2^53 seconds) is in the future like any other.
    if (timestamp * 1000 > now + MAX_COSIGNATURE_SKEW_MS) {
      return refuse(
        'FUTURE_COSIGNATURE',
        `witness quorum: witness ${witness} cosigned at ${isoSeconds(timestamp)}, more than 10 minutes after now (${isoMillis(now)})`,
      )
    }
    const t = earliest.get(witness)
    if (t === undefined || timestamp < t) earliest.set(witness, timestamp)
  }
  const met = quorumSatisfied(policy, new Set(earliest.keys()))
  if (!met && requireQuorum) {
    const who = earliest.size === 0 ? 'no policy witness' : [...earliest.keys()].sort().join(', ')
    return refuse('QUORUM_NOT_MET', `witness quorum: cosignatures verified from ${who}, which does not satisfy quorum ${JSON.stringify(policy.quorum)}`)
  }
  const witnesses = [...earliest.entries()]
    .map(([name, timestamp]) => ({ name, timestamp }))
    .sort((a, b) => a.timestamp - b.timestamp || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const c = signed.checkpoint
  return {
    checkpoint: { origin: c.origin, treeSize: c.treeSize, rootHash: toBase64(c.rootHash) },
    log: signed.log,
    witnesses,
    loggedBy: met && policy.quorum !== QUORUM_NONE ? earliestQuorumTime(policy, earliest) : undefined,
  }
}

/**
 * Returns the checkpoint (parsed) and what the checks establish, or the
 * refusal. Never throws on attacker-controlled input.
 */
export async function checkCheckpoint(
  input: string | Uint8Array,
  policy: Policy,
  now: number,
  requireQuorum: boolean,
  state: VerifyCacheState | undefined,
): Promise<{ verified: VerifiedCheckpoint; checkpoint: Checkpoint } | Refusal> {
  let signed: CachedCheckpoint | Refusal
  try {
    signed = await checkSignedCheckpoint(input, policy, state)
  } catch (e) {
    // Every designed refusal is returned; reaching here is a bug, and still a refusal.
    return refuse('MALFORMED_CHECKPOINT', `checkpoint: ${describeError(e)}`)
  }
  if (isRefusal(signed)) return signed
  const judged = judgeCheckpoint(signed, policy, now, requireQuorum)
  if (isRefusal(judged)) return judged
  return { verified: judged, checkpoint: signed.checkpoint }
}

/** Options of verifyCheckpoint. */
export interface VerifyCheckpointOptions {
  /** The tlog-policy: text, or parsed by parsePolicy. */
  policy: Policy | string
  /** The current time, in milliseconds since the Unix epoch (default: the clock). */
  now?: number
  /** Refuse a checkpoint whose verified cosignatures miss the quorum (default true). */
  requireQuorum?: boolean
  cache?: VerifyCache
}

/**
 * Returns the verdict on one checkpoint note against a tlog-policy: strict
 * parse, a signature by the policy log key named like its origin, every
 * policy witness's cosignature valid and at most 10 minutes ahead of `now`,
 * and the quorum met (unless `requireQuorum` is false). Never throws on
 * attacker-controlled input; throws TypeError on misuse and the parser's
 * TlogError for a malformed policy text.
 */
export async function verifyCheckpoint(note: string | Uint8Array, opts: VerifyCheckpointOptions): Promise<CheckpointVerdict> {
  if (typeof note !== 'string' && !(note instanceof Uint8Array)) throw new TypeError('the checkpoint note must be a string or bytes')
  if (typeof opts !== 'object' || opts === null) throw new TypeError('verifyCheckpoint needs options with a policy')
  const state = cacheState(opts.cache)
  const policy = resolvePolicy(opts.policy, state)
  const now = resolveNow(opts.now)
  if (opts.requireQuorum !== undefined && typeof opts.requireQuorum !== 'boolean') throw new TypeError('requireQuorum must be a boolean')
  const r = await checkCheckpoint(note, policy, now, opts.requireQuorum ?? true, state)
  if (isRefusal(r)) return { ok: false, reason: r.reason, message: r.message }
  return { ok: true, ...r.verified }
}
