import { bytesEqual, toHex, utf8Within } from './bytes.ts'
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from './codec.ts'
import {
  checkCredentialLinks,
  isNamespace,
  isUnderNamespace,
  MAX_TEXT_FIELD,
  type Credential,
  type CredentialCache,
  type CredentialLineage,
  type LinksContext,
} from './credential.ts'
import { TlogError } from './errors.ts'
import { REVOCATION_CONTENT_TYPE } from './hash.ts'
import type { TrustedIssuers } from './policy.ts'
import { publicKeyFromSeed, sign, verify, PUBLIC_KEY_SIZE } from './sig.ts'
import { assembleSign1, encodeProtectedHeader, parseSign1, sigStructure, type Sign1Entry } from './statement.ts'

/**
 * Revocation entries (DESIGN.md "Revocation entries"): a tagged COSE_Sign1
 * with the statement's header layout but content type
 * `application/vnd.actlog.revocation+cbor`; `kid` is the revoker's key and
 * -70001 its chain (0 to 4 credentials). The payload is a deterministic
 * CBOR map, encoded in the order `key, time, since, reason, subject`. It
 * revokes one (subject, key) pair from the next log entry on.
 */

/** A revocation's payload. Times are ms since the Unix epoch. */
export interface Revocation {
  /** The revoked subject (an identity, or a namespace ending in `/` or `:`). */
  subject: string
  /** The revoked subject key (32-byte Ed25519 public key). */
  key: Uint8Array
  /** The revoker's clock. */
  time: number
  /** Earliest suspected compromise, at most `time`: earlier entries at or after it are suspect. */
  since?: number
  /** Why, for people: 1 to 1,024 bytes of UTF-8. */
  reason: string
}

/** A parsed, not yet verified, revocation entry. */
export interface SignedRevocation {
  /** The exact entry bytes (tagged COSE_Sign1). */
  entry: Uint8Array
  revocation: Revocation
  /** The revoker's Ed25519 public key (header 4). */
  kid: Uint8Array
  /** The revoker's chain, its own credential first; empty for a trusted issuer key. */
  credentials: Credential[]
  protectedHeader: Uint8Array
  payload: Uint8Array
  signature: Uint8Array
}

/**
 * By what right a revocation was made: `self` (the revoked key signs, and
 * chain[0] binds the subject to it), `namespace` (a namespace credential
 * whose subject strictly holds the revoked subject) or `issuer` (a trusted
 * issuer key whose prefix covers it, with an empty chain).
 */
export type RevocationAuthority = 'self' | 'namespace' | 'issuer'

/** What a verified revocation proves. */
export interface RevocationVerdict {
  authority: RevocationAuthority
  /** Organisation and key name of the trusted issuer at the root of the revoker's authority. */
  org: string
  issuer: string
  /** The revoker's lineage; undefined when a trusted issuer key revoked with an empty chain. */
  lineage?: CredentialLineage
}

const REQUIRED = ['key', 'time', 'reason', 'subject'] as const
const KEYS = new Set<string>([...REQUIRED, 'since'])

function bad(msg: string): TlogError {
  return new TlogError('MALFORMED', `revocation: ${msg}`)
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} must be a text string`)
  if (v.length === 0) throw bad(`${what} must not be empty`)
  if (!utf8Within(v, MAX_TEXT_FIELD)) throw bad(`${what} is longer than ${MAX_TEXT_FIELD} bytes`)
  return v
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what} must be an unsigned integer`)
  return v
}

/** Returns the revocation in a decoded payload. Strict; throws MALFORMED. */
function revocationFromValue(v: CborValue): Revocation {
  if (!(v instanceof Map)) throw bad('payload must be a map')
  for (const k of v.keys()) if (typeof k !== 'string' || !KEYS.has(k)) throw bad(`payload has an unknown key ${JSON.stringify(k)} (only key, time, since, reason, subject)`)
  for (const k of REQUIRED) if (!v.has(k)) throw bad(`payload is missing ${k}`)
  const key = v.get('key')
  if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_SIZE) throw bad('key must be a 32-byte Ed25519 public key')
  const r: Revocation = { subject: text(v.get('subject'), 'subject'), key, time: uint(v.get('time'), 'time'), reason: text(v.get('reason'), 'reason') }
  if (v.has('since')) {
    r.since = uint(v.get('since'), 'since')
    if (r.since > r.time) throw bad('since must not be after time')
  }
  return r
}

/** Returns the deterministic CBOR payload of a revocation. Throws MALFORMED on invalid fields. */
export function encodeRevocationPayload(r: Revocation): Uint8Array {
  const m: CborMap = new Map<string, CborValue>([
    ['key', r.key],
    ['time', r.time],
    ['reason', r.reason],
    ['subject', r.subject],
  ])
  if (r.since !== undefined) m.set('since', r.since)
  revocationFromValue(m)
  return encodeCbor(m)
}

/** What signs a revocation: the revoker's seed and chain (empty for a trusted issuer key). */
export interface RevocationSigner {
  seed: Uint8Array
  credentials: readonly Credential[]
}

/** Returns the entry bytes of a revocation signed by the revoker. Throws MALFORMED on invalid fields. */
export async function buildRevocation(r: Revocation, signer: RevocationSigner): Promise<Uint8Array> {
  const ph = encodeProtectedHeader(publicKeyFromSeed(signer.seed), signer.credentials, REVOCATION_CONTENT_TYPE)
  const payload = encodeRevocationPayload(r)
  return assembleSign1(ph, payload, await sign(signer.seed, sigStructure(ph, payload)))
}

/**
 * Returns the revocation in entry bytes, without verifying signatures:
 * parseSign1's strict envelope with the revocation content type, then a
 * payload with exactly the known keys. Throws MALFORMED or TOO_LARGE.
 */
export function parseRevocation(entry: Uint8Array): SignedRevocation {
  if (!(entry instanceof Uint8Array)) throw new TypeError('parseRevocation takes bytes')
  return revocationOfSign1(parseSign1(entry))
}

/** Returns the revocation of a parsed entry whose content type is the revocation's. Throws MALFORMED. */
export function revocationOfSign1(e: Sign1Entry): SignedRevocation {
  if (e.contentType !== REVOCATION_CONTENT_TYPE) throw bad(`content type must be ${REVOCATION_CONTENT_TYPE}`)
  const revocation = revocationFromValue(decodeCbor(e.payload, { maxDepth: 1 }))
  return { entry: e.entry, revocation, kid: e.kid, credentials: e.credentials, protectedHeader: e.protectedHeader, payload: e.payload, signature: e.signature }
}

/** What a revocation is verified against. */
export interface RevocationContext {
  issuers: TrustedIssuers
  cache?: CredentialCache
}

/**
 * Checks a parsed revocation: the revoker's signature under kid
 * (BAD_SIGNATURE), then its authority over (subject, key) (UNTRUSTED):
 * with an empty chain, kid is a trusted issuer key whose subject prefix
 * covers `subject`; otherwise the chain is checked like a statement's from
 * chain[1] on (namespaces holding the link before, windows holding `time`,
 * a trusted issuer at the end), and chain[0] either binds `subject` to
 * `key` with kid == key (self), or is a namespace credential that strictly
 * holds `subject` (namespace). Returns the authority. Does not consult the
 * revocation state: a revoked revoker is the caller's check.
 */
export async function checkRevocation(r: SignedRevocation, ctx: RevocationContext): Promise<RevocationVerdict> {
  if (!(await verify(r.kid, sigStructure(r.protectedHeader, r.payload), r.signature))) {
    throw new TlogError('BAD_SIGNATURE', "the revoker's signature on the revocation does not verify")
  }
  return checkRevocationAuthority(r, ctx)
}

/**
 * checkRevocation without the revoker's signature, for callers that
 * verified it already (the auditor checks a bundle's signatures at once).
 */
export async function checkRevocationAuthority(r: SignedRevocation, ctx: RevocationContext): Promise<RevocationVerdict> {
  const { subject, key } = r.revocation
  if (r.credentials.length === 0) {
    const keyed = ctx.issuers.issuers.filter((t) => bytesEqual(t.publicKey, r.kid))
    if (keyed.length === 0) throw new TlogError('UNTRUSTED', 'a revocation with an empty chain must be signed by a trusted issuer key, and its kid is none')
    const root = keyed.find((t) => subject.startsWith(t.subjectPrefix))
    if (root === undefined) {
      throw new TlogError('UNTRUSTED', `${subject} is outside ${keyed.map((t) => t.subjectPrefix).join(', ')}, the subjects ${keyed[0]!.name} may vouch for, so it may not revoke it`)
    }
    return { authority: 'issuer', org: root.org, issuer: root.name }
  }
  const first = r.credentials[0]!
  let authority: RevocationAuthority
  if (first.subject === subject && bytesEqual(r.kid, key)) authority = 'self'
  else if (isNamespace(first.subject) && isUnderNamespace(subject, first.subject)) authority = 'namespace'
  else if (isNamespace(first.subject)) throw new TlogError('UNTRUSTED', `namespace ${first.subject} may revoke only subjects strictly inside it, not ${subject}`)
  else throw new TlogError('UNTRUSTED', `${first.subject} is an identity credential: its key may revoke only its own (subject, key) pair`)
  const links: LinksContext = { kid: r.kid, time: r.revocation.time, issuers: ctx.issuers, what: 'revocation' }
  const lineage = await checkCredentialLinks(r.credentials, ctx.cache === undefined ? links : { ...links, cache: ctx.cache })
  return { authority, org: lineage.org, issuer: lineage.issuer, lineage }
}

/** Returns the key of a (subject, key) pair in maps: the hex key (fixed length) first, so no two pairs share it. */
export function pairKey(subject: string, key: Uint8Array | string): string {
  return (typeof key === 'string' ? key : toHex(key)) + subject
}
