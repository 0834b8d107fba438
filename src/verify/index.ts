/**
 * actlog offline verifier: a `.tlog-proof` plus a tlog-policy and the trusted
 * issuers in, a verdict with a stable reason code out. Isomorphic: it
 * imports only core, so it runs in Node and in browsers (esbuild, platform
 * browser) with no Node built-ins.
 */
export { MAX_COSIGNATURE_SKEW_MS, REASONS, REASON_CODES, isReasonCode, type ReasonCode } from './reasons.ts'
export { createVerifyCache, type VerifyCache, type VerifyCacheOptions, type VerifyCacheStats } from './cache.ts'
export { verifyCheckpoint, type VerifyCheckpointOptions } from './checkpoint.ts'
export { decodeStatement, verifyActionProof, type RevocationsSeen, type VerifyActionProofOptions } from './verify.ts'
export { verifyCheckpointConsistency, type VerifyConsistencyOptions } from './consistency.ts'
export { runtimeInfo, type RuntimeInfo } from './runtime.ts'
export type {
  ActionVerdict,
  ActionVerdictFailed,
  ActionVerdictOk,
  CheckpointSummary,
  CheckpointVerdict,
  ConsistencyVerdict,
  DecodedDelegationLink,
  DecodedPolicyDecision,
  DecodedStatement,
  RevocationFindings,
  VerifiedCheckpoint,
  WitnessCosignature,
} from './verdict.ts'
// Re-exported so a verifier (or a browser bundle) has the whole toolkit from
// one import: the bare hash checks behind the verdicts, and the parsers for
// configuration texts.
export {
  RevocationState,
  parsePolicy,
  parseTrustedIssuers,
  verifyConsistency,
  verifyInclusion,
  type CredentialLineage,
  type LineageLink,
  type LinkRole,
  type Policy,
  type RevocationRecord,
  type TrustedIssuers,
} from '../core/index.ts'
