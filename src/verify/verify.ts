import {
  MAX_TLOG_PROOF_SIZE,
  checkCredentialChain,
  checkStatementSignature,
  isTlogError,
  leafHash,
  parseRevocation,
  parseStatement,
  parseTlogProof,
  toHex,
  verifyInclusion,
  RevocationState,
  type CredentialLineage,
  type Policy,
  type RevocationRecord,
  type SignedRevocation,
  type SignedStatement,
  type TlogProof,
  type TrustedIssuers,
} from '../core/index.ts'
import { cacheState, type VerifyCache } from './cache.ts'
import { checkCheckpoint, describeError, isRefusal } from './checkpoint.ts'
import { resolveIssuers, resolveNow, resolvePolicy } from './config.ts'
import type { ReasonCode } from './reasons.ts'
import type { ActionVerdict, ActionVerdictFailed, DecodedStatement, RevocationFindings } from './verdict.ts'

/**
 * Revocations an audit saw (its state directory holds them): those logged
 * in the entries [0, checkedTo). An offline proof alone cannot show a
 * revocation logged after it was made; this is what makes the answer
 * complete up to the audit's checkpoint.
 */
export interface RevocationsSeen {
  revocations: RevocationState | readonly RevocationRecord[]
  checkedTo: number
  /** The checkpoint (note text) the audit was complete to, reported back. */
  checkpoint?: string
}

/** Options of verifyActionProof. */
export interface VerifyActionProofOptions {
  /** The tlog-policy (log key, witnesses, quorum): text, or parsed by parsePolicy. */
  policy: Policy | string
  /** The trusted issuers: text (`issuer <org> <vkey> <subject-prefix>` lines), or parsed by parseTrustedIssuers. */
  issuers: TrustedIssuers | string
  /** The current time, in milliseconds since the Unix epoch (default: the clock). Only cosignature timestamps are compared with it. */
  now?: number
  /** A cache from createVerifyCache, shared across a batch of proofs. */
  cache?: VerifyCache
  /** Revocations to check the chain against (step 8); without them no revocation is checked. */
  revocations?: RevocationsSeen
}

/** Returns the statement's payload and key in the verdict's JSON-friendly form. */
export function decodeStatement(s: SignedStatement): DecodedStatement {
  const st = s.statement
  const policy: DecodedStatement['policy'] = { id: st.policy.id, version: st.policy.version, decision: st.policy.decision }
  if (st.policy.ref !== undefined) policy.ref = toHex(st.policy.ref)
  const out: DecodedStatement = {
    actor: st.actor,
    action: st.action,
    target: st.target,
    tool: st.tool,
    params: toHex(st.params),
    policy,
    delegation: (st.delegation ?? []).map((d) => (d.grant === undefined ? { principal: d.principal, scope: d.scope } : { principal: d.principal, scope: d.scope, grant: toHex(d.grant) })),
    time: st.time,
    nonce: toHex(st.nonce),
    actorKey: toHex(s.kid),
  }
  if (st.approval !== undefined) out.approval = { by: st.approval.by, ref: st.approval.ref }
  if (st.instruction !== undefined) out.instruction = toHex(st.instruction)
  return out
}

/**
 * Returns the verdict on an actlog `.tlog-proof`: whether it proves that the
 * log named by `policy` holds, at its index, an action statement signed by
 * an actor whose key a trusted issuer vouched for. The checks run in this
 * order and the first failure is the verdict (codes in reasons.ts):
 *
 * 1. strict parse of the tlog-proof (MALFORMED_PROOF) and of its checkpoint
 *    note (MALFORMED_CHECKPOINT);
 * 2. the log signature: a policy `log` key whose name is the checkpoint's
 *    origin signed it (UNKNOWN_LOG), and every line of that key verifies
 *    (BAD_LOG_SIGNATURE); lines of keys the policy does not list are ignored;
 * 3. the witnesses: every cosignature/v1 line of a policy witness verifies
 *    (BAD_COSIGNATURE) and is at most 10 minutes ahead of `now`
 *    (FUTURE_COSIGNATURE), and those witnesses meet the quorum
 *    (QUORUM_NOT_MET); other signature types (ML-DSA-44, 0x06) and unknown
 *    keys are ignored;
 * 4. the entry in `extra` (MALFORMED_STATEMENT when absent): its RFC 6962
 *    leaf hash and the inclusion proof reproduce the checkpoint's root at
 *    `index` (BAD_INCLUSION);
 * 5. the entry is a strict action statement (MALFORMED_STATEMENT);
 * 6. the actor's signature on it (BAD_STATEMENT_SIGNATURE);
 * 7. the credential chain to a trusted issuer, the statement time inside
 *    every credential's window, each link above the actor a namespace
 *    holding the one below (UNTRUSTED_CREDENTIAL, BAD_CREDENTIAL_SIGNATURE);
 * 8. only when `revocations` are given: no pair of the chain was revoked
 *    by an entry before this one (REVOKED); later revocations whose `since`
 *    the statement's time reaches are reported as suspect, not refused.
 *
 * Never throws on attacker-controlled input (the proof). Throws TypeError
 * on misuse, and parsePolicy's or parseTrustedIssuers' TlogError when
 * `policy` or `issuers` is a malformed text: that is configuration.
 */
export async function verifyActionProof(proofText: string | Uint8Array, opts: VerifyActionProofOptions): Promise<ActionVerdict> {
  if (typeof proofText !== 'string' && !(proofText instanceof Uint8Array)) throw new TypeError('the proof must be a string or bytes')
  if (typeof opts !== 'object' || opts === null) throw new TypeError('verifyActionProof needs options with policy and issuers')
  const state = cacheState(opts.cache)
  const policy = resolvePolicy(opts.policy, state)
  const issuers = resolveIssuers(opts.issuers, state)
  const now = resolveNow(opts.now)

  // Fields are added to `got` as checks pass, so a refusal reports what was
  // established before the failing check and nothing after it.
  const got: Omit<ActionVerdictFailed, 'ok' | 'reason' | 'message'> = {}
  const fail = (reason: ReasonCode, message: string): ActionVerdictFailed => ({ ok: false, reason, message, ...got })

  // 1. Strict parse. The length test comes first so an oversized string is
  // not encoded just to learn that it is too large (UTF-8 is never shorter).
  let proof: TlogProof
  try {
    if (proofText.length > MAX_TLOG_PROOF_SIZE) return fail('MALFORMED_PROOF', `proof file: larger than ${MAX_TLOG_PROOF_SIZE} bytes`)
    proof = parseTlogProof(proofText)
  } catch (e) {
    return fail('MALFORMED_PROOF', `proof file: ${describeError(e)}`)
  }

  // 2, 3. Checkpoint: log signature, then witnesses and quorum (cached).
  const cp = await checkCheckpoint(proof.checkpoint, policy, now, true, state)
  if (isRefusal(cp)) return fail(cp.reason, cp.message)
  Object.assign(got, cp.verified)

  // 4. Inclusion. Before anything reads the entry, so every later verdict
  // is about bytes the log really holds at this index.
  if (proof.extra === undefined) {
    return fail('MALFORMED_STATEMENT', 'statement: the proof has no extra line; an actlog proof carries the logged entry there')
  }
  const { treeSize, rootHash } = cp.checkpoint
  let leaf: Uint8Array
  try {
    leaf = leafHash(proof.extra)
    if (!verifyInclusion(leaf, proof.index, treeSize, proof.proof, rootHash)) {
      return fail(
        'BAD_INCLUSION',
        proof.index >= treeSize
          ? `inclusion: index ${proof.index} is not below the checkpoint's tree size ${treeSize}`
          : `inclusion: the entry and the ${proof.proof.length} proof hashes do not reproduce the root of the tree of size ${treeSize} at index ${proof.index}`,
      )
    }
  } catch (e) {
    return fail('BAD_INCLUSION', `inclusion: ${describeError(e)}`)
  }
  got.index = proof.index
  got.leafHash = toHex(leaf)

  // 5. The entry is a strict action statement.
  let signed: SignedStatement
  try {
    signed = parseStatement(proof.extra)
    got.statement = decodeStatement(signed)
  } catch (e) {
    // A revocation entry is a valid log entry, but not an action: say so.
    let revocation: SignedRevocation | undefined
    try {
      revocation = parseRevocation(proof.extra)
    } catch {
      // Not a revocation either: the statement's own error is the verdict.
    }
    if (revocation !== undefined) {
      const r = revocation.revocation
      return fail('MALFORMED_STATEMENT', `statement: the entry is a revocation entry, not an action statement (it revokes ${r.subject}, key ${toHex(r.key)}: ${r.reason})`)
    }
    return fail('MALFORMED_STATEMENT', `statement: ${describeError(e)}`)
  }

  // 6. The actor's signature.
  try {
    await checkStatementSignature(signed)
  } catch (e) {
    return fail('BAD_STATEMENT_SIGNATURE', `statement signature: ${describeError(e)}`)
  }

  // 7. The credential chain to a trusted issuer.
  let lineage: CredentialLineage
  try {
    const ctx = { actor: signed.statement.actor, kid: signed.kid, time: signed.statement.time, issuers }
    lineage = await checkCredentialChain(signed.credentials, state === undefined ? ctx : { ...ctx, cache: state.credentials })
  } catch (e) {
    const reason: ReasonCode = isTlogError(e, 'BAD_SIGNATURE')
      ? 'BAD_CREDENTIAL_SIGNATURE'
      : isTlogError(e, 'MALFORMED')
        ? 'MALFORMED_STATEMENT'
        : 'UNTRUSTED_CREDENTIAL'
    return fail(reason, `credential chain: ${describeError(e)}`)
  }

  // 8. Revocations an audit saw, when given.
  let findings: RevocationFindings | undefined
  if (opts.revocations !== undefined) {
    const seen = opts.revocations
    const rs = seen.revocations instanceof RevocationState ? seen.revocations : RevocationState.fromJSON(seen.revocations)
    const revoked = rs.revokedAt(signed.credentials, proof.index)
    if (revoked !== undefined) {
      return fail(
        'REVOKED',
        `revocation: ${revoked.subject} with key ${revoked.key} was revoked by log entry ${revoked.index} (${revoked.reason}), before this entry at ${proof.index}`,
      )
    }
    findings = { checkedTo: seen.checkedTo, complete: proof.index < seen.checkedTo, suspect: rs.suspectFor(signed.credentials, signed.statement.time, proof.index) }
    if (seen.checkpoint !== undefined) findings.checkpoint = seen.checkpoint
  }

  const ok: ActionVerdict = {
    ok: true,
    ...cp.verified,
    index: proof.index,
    leafHash: got.leafHash,
    statement: got.statement,
    lineage,
  }
  if (findings !== undefined) ok.revocations = findings
  return ok
}
