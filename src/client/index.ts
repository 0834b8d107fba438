/**
 * actlog SDK (`import { ... } from 'actlog'`): keys and credentials, sign an
 * action statement, submit it to a log with retries, wait for a witnessed
 * proof, and verify proofs offline. Isomorphic: it uses fetch and
 * AbortSignal and no Node built-ins, so it runs in Node 20 and in browsers.
 */
export { DEFAULT_VALIDITY_MS, KEY_KINDS, encodeCredentials, encodeKey, generateKey, issueCredentialChain, loadCredentials, loadKey, verifierKey, type IssueOptions, type KeyKind } from './keys.ts'
export { requestDigest, signAction, type Action, type BytesOrHex, type SignOptions } from './actions.ts'
export {
  LogClient,
  LogError,
  parseRetryAfter,
  type Added,
  type CallOptions,
  type LogClientOptions,
  type ProofOptions,
  type SubmitOptions,
} from './log-client.ts'
export {
  REASONS,
  parsePolicy,
  parseTrustedIssuers,
  verifyActionProof,
  type ActionVerdict,
  type ActionVerdictFailed,
  type ActionVerdictOk,
  type DecodedStatement,
  type Policy,
  type ReasonCode,
  type TrustedIssuers,
  type VerifyActionProofOptions,
} from '../verify/index.ts'
export { TlogError, isTlogError, type Credential, type SignerKey, type TlogErrorCode } from '../core/index.ts'
