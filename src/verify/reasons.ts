/**
 * The reason codes of `src/verify` verdicts: one per check, listed here and
 * nowhere else. Codes are API: callers, scripts and partners branch on them,
 * so a code never changes meaning and is never renamed; messages may change.
 *
 * The table lists them in the order the checks run. `verifyActionProof` runs
 * every row; `verifyCheckpoint` runs the checkpoint rows (`MALFORMED_CHECKPOINT`
 * to `QUORUM_NOT_MET`); `verifyCheckpointConsistency` runs the checkpoint rows
 * on both checkpoints, then `INCONSISTENT`.
 *
 * | Code | Check that failed |
 * | --- | --- |
 * | `MALFORMED_PROOF` | The input is not a strict c2sp.org/tlog-proof (header, `extra`, `index`, proof hashes, blank line), is not UTF-8, or is larger than `MAX_TLOG_PROOF_SIZE`; for consistency, a proof hash is not 32 bytes or there are more than 63. |
 * | `MALFORMED_CHECKPOINT` | The checkpoint is not a strict signed note (c2sp.org/signed-note) whose text is a c2sp.org/tlog-checkpoint body. |
 * | `UNKNOWN_LOG` | No `log` key of the policy is named like the checkpoint's origin and signed it (tlog-policy: a log's key name is its origin). |
 * | `BAD_LOG_SIGNATURE` | A signature line of a policy log key does not verify over the checkpoint. |
 * | `BAD_COSIGNATURE` | A `cosignature/v1` line of a policy witness key does not verify over the checkpoint. |
 * | `FUTURE_COSIGNATURE` | A policy witness's verified cosignature is timestamped more than 10 minutes after `now`. |
 * | `QUORUM_NOT_MET` | The witnesses whose cosignatures verified do not satisfy the policy's quorum. |
 * | `BAD_INCLUSION` | The leaf hash of `extra` and the inclusion proof do not reproduce the checkpoint's root hash at `index` (wrong hash, wrong number of hashes, index not below the tree size). |
 * | `MALFORMED_STATEMENT` | The proof has no `extra` line (actlog proofs carry the entry there), or the logged entry is not a strict action statement (COSE_Sign1, deterministic CBOR, known fields, limits). |
 * | `BAD_STATEMENT_SIGNATURE` | The actor's signature on the statement does not verify under its key (`kid`). |
 * | `UNTRUSTED_CREDENTIAL` | The credential chain does not tie the actor to a trusted issuer: unknown issuer, statement time outside a credential's window, subject or key not bound to the actor, broken chain, or actor outside the issuer's subject prefix. |
 * | `BAD_CREDENTIAL_SIGNATURE` | A credential's signature does not verify (by the next credential's key, or by any trusted key of the issuer it names). |
 * | `REVOKED` | Only when revocations are given (an audit's state): the credential chain holds a (subject, key) pair that a revocation entry logged before this entry revoked. |
 * | `INCONSISTENT` | Two checkpoints are not of one append-only log: different origins, the old one larger, or the consistency proof fails (equal sizes need equal roots). |
 *
 * One exception to the order: a proof without `extra` is refused with
 * `MALFORMED_STATEMENT` just before the inclusion check, since there is no
 * leaf to hash (the file is a valid tlog-proof; only actlog requires
 * `extra`). Otherwise a statement is parsed only after its inclusion
 * verified, so every statement-level code describes an entry the log really
 * holds at that index.
 */
export const REASONS = {
  MALFORMED_PROOF: 'the input is not a strict c2sp.org/tlog-proof (or a consistency proof hash is not 32 bytes)',
  MALFORMED_CHECKPOINT: 'the checkpoint is not a strict signed note with a tlog-checkpoint body',
  UNKNOWN_LOG: "no policy log key named like the checkpoint's origin signed the checkpoint",
  BAD_LOG_SIGNATURE: "a policy log key's signature on the checkpoint does not verify",
  BAD_COSIGNATURE: "a policy witness's cosignature/v1 on the checkpoint does not verify",
  FUTURE_COSIGNATURE: "a policy witness's cosignature is timestamped more than 10 minutes after now",
  QUORUM_NOT_MET: "the witnesses whose cosignatures verified do not satisfy the policy's quorum",
  BAD_INCLUSION: "the entry's leaf hash and the inclusion proof do not reproduce the checkpoint's root at the index",
  MALFORMED_STATEMENT: 'the proof carries no entry in extra, or the entry is not a strict action statement',
  BAD_STATEMENT_SIGNATURE: "the actor's signature on the statement does not verify",
  UNTRUSTED_CREDENTIAL: 'the credential chain does not tie the actor to a trusted issuer',
  BAD_CREDENTIAL_SIGNATURE: 'a credential signature in the chain does not verify',
  REVOKED: 'the credential chain holds a (subject, key) pair revoked by an earlier log entry',
  INCONSISTENT: 'the two checkpoints are not of one append-only log',
} as const

/** A verdict reason code: one key of REASONS. */
export type ReasonCode = keyof typeof REASONS

/** Every reason code, in the order the checks run. */
export const REASON_CODES: readonly ReasonCode[] = Object.freeze(Object.keys(REASONS) as ReasonCode[])

/** Returns true when `code` is one of the reason codes. */
export function isReasonCode(code: unknown): code is ReasonCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(REASONS, code)
}

/**
 * Cosignatures timestamped more than this many milliseconds after `now` are
 * refused (FUTURE_COSIGNATURE): a witness's clock may run a little ahead, but
 * a time far in the future would let a forged "logged by" time stand.
 */
export const MAX_COSIGNATURE_SKEW_MS = 10 * 60 * 1000
