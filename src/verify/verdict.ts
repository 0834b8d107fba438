import type { CredentialLineage, RevocationRecord } from '../core/index.ts'
import type { ReasonCode } from './reasons.ts'

/**
 * The shapes verdicts are made of. Every field is a string, a number, an
 * array or a plain object of those (bytes are hex or base64), so a verdict
 * can be printed with JSON.stringify as it is.
 */

/** A checkpoint's body, as the verdict reports it. */
export interface CheckpointSummary {
  origin: string
  treeSize: number
  /** The root hash, standard base64 as in the checkpoint text. */
  rootHash: string
}

/** A policy witness whose cosignature verified. */
export interface WitnessCosignature {
  /** The witness's name in the policy (the `witness <name> ...` line). */
  name: string
  /** The cosignature timestamp, in seconds since the Unix epoch (tlog-cosignature). */
  timestamp: number
}

/** What a checkpoint that passed the checkpoint checks establishes. */
export interface VerifiedCheckpoint {
  checkpoint: CheckpointSummary
  /** The key name of the policy log key that signed the checkpoint (equal to its origin). */
  log: string
  /**
   * Policy witnesses whose cosignatures verified, earliest first (ties by
   * name). A witness that cosigned more than once is listed with its earliest
   * timestamp.
   */
  witnesses: WitnessCosignature[]
  /**
   * The earliest cosignature time (seconds) at which the quorum was met: the
   * time by which the checkpoint, and so every entry it covers, was provably
   * logged. Undefined for quorum `none`, or when the quorum is not met and
   * the caller did not require it.
   */
  loggedBy: number | undefined
}

/** One link of the on-behalf-of chain, outermost first. */
export interface DecodedDelegationLink {
  principal: string
  scope: string
  /** The grant reference, hex, when present. */
  grant?: string
}

/** The policy decision under which the action ran. */
export interface DecodedPolicyDecision {
  id: string
  version: string
  decision: string
  /** The policy reference bytes, hex, when present. */
  ref?: string
}

/** An action statement's payload and key, decoded for people and JSON. */
export interface DecodedStatement {
  actor: string
  action: string
  target: string
  tool: string
  /** SHA-256 of the exact request bytes the tool received, hex. */
  params: string
  policy: DecodedPolicyDecision
  /** The on-behalf-of chain, outermost first; empty when the statement has none. */
  delegation: DecodedDelegationLink[]
  approval?: { by: string; ref: string }
  /** SHA-256 of the instruction (prompt, trigger, ticket) that caused the action, hex, when present. */
  instruction?: string
  /** The actor's clock, in milliseconds since the Unix epoch. */
  time: number
  /** The statement nonce, hex. */
  nonce: string
  /** The actor's Ed25519 public key (COSE kid), hex. */
  actorKey: string
}

/** A successful verification of an action proof: everything it establishes. */
export interface ActionVerdictOk extends VerifiedCheckpoint {
  ok: true
  /** The entry's index in the log. */
  index: number
  /** The RFC 6962 leaf hash of the entry, hex. */
  leafHash: string
  statement: DecodedStatement
  /** The credential chain's lineage, from the actor to the trusted issuer; each link says its role (identity or namespace). */
  lineage: CredentialLineage
  /** Set when revocations were given: what they say about this entry. */
  revocations?: RevocationFindings
}

/** What the revocations an audit saw say about an accepted entry. */
export interface RevocationFindings {
  /** The revocations cover the log entries below this index (the audit's processed tree size). */
  checkedTo: number
  /** The checkpoint the audit's state is complete to, when it names one. */
  checkpoint?: string
  /**
   * True when every entry before this one was covered, so no revocation
   * logged before it was missed; false when the entry lies at or past
   * `checkedTo` (revocations between the two are unknown to this state).
   */
  complete: boolean
  /**
   * Revocations logged after the entry, of a pair its chain holds, whose
   * `since` is at or before the entry's time: the entry stays valid (log
   * order decides) but is suspect.
   */
  suspect: RevocationRecord[]
}

/**
 * A refused action proof: the reason code and a message naming the failed
 * check, plus what the checks before it established. `checkpoint`,
 * `witnesses`, `log` and `loggedBy` are set once the checkpoint checks
 * passed; `index` and `leafHash` once the inclusion proof verified;
 * `statement` once the logged entry parsed. A `statement` in a refused
 * verdict is what the log holds at `index`, NOT an action the actor is
 * proven to have signed.
 */
export interface ActionVerdictFailed extends Partial<VerifiedCheckpoint> {
  ok: false
  reason: ReasonCode
  message: string
  index?: number
  leafHash?: string
  statement?: DecodedStatement
}

/** The verdict of verifyActionProof, discriminated on `ok`. */
export type ActionVerdict = ActionVerdictOk | ActionVerdictFailed

/** The verdict of verifyCheckpoint, discriminated on `ok`. */
export type CheckpointVerdict = ({ ok: true } & VerifiedCheckpoint) | { ok: false; reason: ReasonCode; message: string }

/** The verdict of verifyCheckpointConsistency, discriminated on `ok`. */
export type ConsistencyVerdict =
  | { ok: true; old: VerifiedCheckpoint; new: VerifiedCheckpoint }
  | {
      ok: false
      reason: ReasonCode
      message: string
      /** Which checkpoint failed its own checks; absent when both passed and the failure is INCONSISTENT or a malformed proof. */
      which?: 'old' | 'new'
      old?: VerifiedCheckpoint
      new?: VerifiedCheckpoint
    }
