import type { Credential, CredentialCache, CredentialLineage } from './credential.ts'
import { TlogError } from './errors.ts'
import { STATEMENT_CONTENT_TYPE } from './hash.ts'
import type { TrustedIssuers } from './policy.ts'
import { checkRevocation, revocationOfSign1, type RevocationVerdict, type SignedRevocation } from './revocation.ts'
import { revocationRecord, type RevocationRecord, type RevocationState } from './revocation-state.ts'
import { checkStatement, parseSign1, statementOfSign1, type SignedStatement } from './statement.ts'

/**
 * A log entry of either type, dispatched on its content type (COSE header
 * 3): an action statement or a revocation.
 */
export type LogEntry = { kind: 'statement'; statement: SignedStatement } | { kind: 'revocation'; revocation: SignedRevocation }

/** Returns the entry in `bytes`, parsed by its content type. Strict; throws MALFORMED or TOO_LARGE. */
export function parseEntry(bytes: Uint8Array): LogEntry {
  const e = parseSign1(bytes)
  return e.contentType === STATEMENT_CONTENT_TYPE ? { kind: 'statement', statement: statementOfSign1(e) } : { kind: 'revocation', revocation: revocationOfSign1(e) }
}

/** Returns the entry's signer credential chain (the statement's, or the revoker's). */
export function chainOf(e: LogEntry): SignedStatement['credentials'] {
  return e.kind === 'statement' ? e.statement.credentials : e.revocation.credentials
}

/** What an accepted entry proves. */
export type EntryVerdict =
  | { kind: 'statement'; lineage: CredentialLineage }
  | { kind: 'revocation'; verdict: RevocationVerdict; record: RevocationRecord }

/** What an entry is checked against in log order. */
export interface LogEntryContext {
  issuers: TrustedIssuers
  revocations: RevocationState
  cache?: CredentialCache
}

/**
 * Throws REVOKED when `chain` holds a (subject, key) pair revoked before
 * `index`, naming the revocation's index; the cheap check, so it comes
 * before any signature is verified.
 */
export function checkNotRevoked(chain: readonly Credential[], index: number, revocations: RevocationState, what = 'entry'): void {
  const r = revocations.revokedAt(chain, index)
  if (r !== undefined) {
    throw new TlogError('REVOKED', `the ${what}'s chain holds ${r.subject} with key ${r.key.slice(0, 16)}…, revoked by log entry ${r.index} (${r.reason})`)
  }
}

/**
 * Checks an entry as the log decides it at `index`: not REVOKED by a
 * revocation before it, then the statement (signature, chain) or the
 * revocation (signature, authority). Does not change the state: the caller
 * adds a returned revocation record once the entry is sequenced. Throws
 * REVOKED, BAD_SIGNATURE, UNTRUSTED or MALFORMED.
 */
export async function checkLogEntry(e: LogEntry, index: number, ctx: LogEntryContext): Promise<EntryVerdict> {
  checkNotRevoked(chainOf(e), index, ctx.revocations, e.kind)
  if (e.kind === 'statement') {
    return { kind: 'statement', lineage: await checkStatement(e.statement, ctx.cache === undefined ? { issuers: ctx.issuers } : { issuers: ctx.issuers, cache: ctx.cache }) }
  }
  const verdict = await checkRevocation(e.revocation, ctx.cache === undefined ? { issuers: ctx.issuers } : { issuers: ctx.issuers, cache: ctx.cache })
  return { kind: 'revocation', verdict, record: revocationRecord(index, e.revocation, verdict.authority) }
}
