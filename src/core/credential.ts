import { binaryString, bytesEqual, concatBytes, toHex, utf8, utf8Length, utf8Within, writeUtf8 } from './bytes.ts'
import { cborHeadLength, decodeCbor, encodeCbor, encodeCborHead, writeCborHead, type CborValue } from './codec.ts'
import { TlogError } from './errors.ts'
import { CREDENTIAL_VERSION } from './hash.ts'
import type { TrustedIssuer, TrustedIssuers } from './policy.ts'
import { publicKeyFromSeed, sign, verifyBatch, PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from './sig.ts'

/**
 * Credentials: the signing-key lineage of an actor (DESIGN.md "Credential").
 *
 *   ["actlog-credential/v1", issuer, subject, subjectKey, notBefore, notAfter, signature]
 *
 * `signature` is the issuer's Ed25519 signature over the deterministic CBOR
 * of the first six elements. It binds `subject` to `subjectKey` for the
 * closed interval [notBefore, notAfter] (milliseconds since the epoch).
 * A chain lists the actor's credential first; credential i is signed by the
 * subjectKey of credential i+1, whose subject is credential i's issuer; the
 * last is signed by a trusted issuer key whose key name is its issuer.
 */

/** Longest text field, in UTF-8 bytes. */
export const MAX_TEXT_FIELD = 1024
/** Most credentials in a chain. */
export const MAX_CHAIN_LENGTH = 4

/** A credential. Times are milliseconds since the Unix epoch. */
export interface Credential {
  issuer: string
  subject: string
  subjectKey: Uint8Array
  notBefore: number
  notAfter: number
  signature: Uint8Array
}

/** The fields an issuer signs. */
export type CredentialFields = Omit<Credential, 'signature'>

function checkText(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new TlogError('MALFORMED', `${what} must be a text string`)
  if (v.length === 0) throw new TlogError('MALFORMED', `${what} must not be empty`)
  if (!utf8Within(v, MAX_TEXT_FIELD)) throw new TlogError('MALFORMED', `${what} is longer than ${MAX_TEXT_FIELD} bytes`)
  return v
}

function checkBytes(v: unknown, len: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TlogError('MALFORMED', `${what} must be a byte string`)
  if (v.length !== len) throw new TlogError('MALFORMED', `${what} must be ${len} bytes`)
  return v
}

function checkTime(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new TlogError('MALFORMED', `${what} must be an unsigned integer`)
  return v
}

function toBeSignedValue(c: CredentialFields): CborValue[] {
  return [CREDENTIAL_VERSION, c.issuer, c.subject, c.subjectKey, c.notBefore, c.notAfter]
}

const VERSION_TEXT = concatBytes(encodeCborHead(3, utf8(CREDENTIAL_VERSION).length), utf8(CREDENTIAL_VERSION))

/**
 * Returns the bytes an issuer signs: the deterministic CBOR array of the
 * first six elements. Framed here, into one buffer, rather than through the
 * generic encoder: every statement check needs these bytes for each
 * credential of its chain. A test holds them equal to encodeCbor of the
 * same array.
 */
export function credentialSignedBytes(c: CredentialFields): Uint8Array {
  const issuer = utf8Length(c.issuer)
  const subject = utf8Length(c.subject)
  const key = c.subjectKey.length
  const out = new Uint8Array(
    1 + VERSION_TEXT.length + cborHeadLength(issuer) + issuer + cborHeadLength(subject) + subject + cborHeadLength(key) + key + cborHeadLength(c.notBefore) + cborHeadLength(c.notAfter),
  )
  out[0] = 0x86
  out.set(VERSION_TEXT, 1)
  let o = 1 + VERSION_TEXT.length
  o = writeUtf8(c.issuer, out, writeCborHead(out, o, 3, issuer))
  o = writeUtf8(c.subject, out, writeCborHead(out, o, 3, subject))
  o = writeCborHead(out, o, 2, key)
  out.set(c.subjectKey, o)
  o = writeCborHead(out, o + key, 0, c.notBefore)
  writeCborHead(out, o, 0, c.notAfter)
  return out
}

/** Returns the CBOR value of a credential (for embedding in a chain). */
export function credentialToValue(c: Credential): CborValue[] {
  return [...toBeSignedValue(c), c.signature]
}

/** Returns the deterministic CBOR encoding of a credential. */
export function encodeCredential(c: Credential): Uint8Array {
  return encodeCbor(credentialToValue(c))
}

/**
 * Returns the credential a decoded CBOR value holds. Strict: an array of
 * exactly seven elements led by the version string, non-empty text fields of
 * at most 1024 bytes, a 32-byte key, unsigned times, a 64-byte signature.
 * Throws MALFORMED.
 */
export function credentialFromValue(v: CborValue): Credential {
  if (!Array.isArray(v)) throw new TlogError('MALFORMED', 'credential must be an array')
  if (v.length !== 7) throw new TlogError('MALFORMED', 'credential must have 7 elements')
  if (v[0] !== CREDENTIAL_VERSION) throw new TlogError('MALFORMED', `credential must start with "${CREDENTIAL_VERSION}"`)
  return {
    issuer: checkText(v[1], 'credential issuer'),
    subject: checkText(v[2], 'credential subject'),
    subjectKey: checkBytes(v[3], PUBLIC_KEY_SIZE, 'credential subjectKey'),
    notBefore: checkTime(v[4], 'credential notBefore'),
    notAfter: checkTime(v[5], 'credential notAfter'),
    signature: checkBytes(v[6], SIGNATURE_SIZE, 'credential signature'),
  }
}

/** Returns the credential in deterministic CBOR `bytes`. Throws MALFORMED. */
export function parseCredential(bytes: Uint8Array): Credential {
  if (bytes.length > 4 * MAX_TEXT_FIELD) throw new TlogError('MALFORMED', 'credential is too large')
  return credentialFromValue(decodeCbor(bytes, { maxDepth: 2 }))
}

/** Returns a credential for `fields` signed by the issuer's seed. */
export async function issueCredential(fields: CredentialFields, issuerSeed: Uint8Array): Promise<Credential> {
  checkText(fields.issuer, 'issuer')
  checkText(fields.subject, 'subject')
  checkBytes(fields.subjectKey, PUBLIC_KEY_SIZE, 'subjectKey')
  checkTime(fields.notBefore, 'notBefore')
  checkTime(fields.notAfter, 'notAfter')
  if (fields.notAfter < fields.notBefore) throw new RangeError('notAfter is before notBefore')
  const signature = await sign(issuerSeed, credentialSignedBytes(fields))
  return { ...fields, signature }
}

/** Remembers credential signatures that verified, keyed by every signed field, the signature and the signer key. */
export interface CredentialCache {
  has(key: string): boolean
  add(key: string): void
}

/** Returns a CredentialCache holding at most `max` entries (oldest evicted first). */
export function createCredentialCache(max = 10_000): CredentialCache {
  const set = new Set<string>()
  return {
    has: (k) => set.has(k),
    add(k) {
      if (set.has(k)) return
      if (set.size >= max) {
        const oldest = set.values().next().value
        if (oldest !== undefined) set.delete(oldest)
      }
      set.add(k)
    },
  }
}

/**
 * The cache key of "credential `c` verified under `signer`": every field the
 * signature covers, the signature and the signer, in one string that no
 * other combination produces (the lengths come first, then the parts, so
 * no boundary is ambiguous). Equal fields mean equal signed bytes, since
 * their encoding is deterministic, and this is far cheaper than encoding
 * them: the log and the auditor look a chain up for every statement.
 */
function cacheKey(c: Credential, signer: Uint8Array): string {
  const frozen = Object.isFrozen(c)
  const memo = frozen ? keyMemo.get(c) : undefined
  const known = memo?.get(signer)
  if (known !== undefined) return known
  const key =
    `${signer.length},${c.signature.length},${c.subjectKey.length},${c.issuer.length},${c.notBefore},${c.notAfter},` +
    binaryString(signer) +
    binaryString(c.signature) +
    binaryString(c.subjectKey) +
    c.issuer +
    c.subject
  if (frozen) {
    if (memo === undefined) keyMemo.set(c, new WeakMap([[signer, key]]))
    else memo.set(signer, key)
  }
  return key
}

/**
 * Cache keys of frozen credentials (parseStatement shares one frozen chain
 * between the statements of an actor), by signer: a key is worked out once
 * per credential instead of once per statement. A credential that is not
 * frozen could change after its key was made, so it gets no memo.
 */
const keyMemo = new WeakMap<Credential, WeakMap<Uint8Array, string>>()


/**
 * Returns true when `subject` names a namespace (DESIGN.md "Issuing
 * authority"): it ends in `/` or `:`. A namespace credential's key issues
 * credentials for longer subjects under it and never signs statements; any
 * other credential is an identity credential, whose key signs statements
 * for its subject and never issues.
 */
export function isNamespace(subject: string): boolean {
  return subject.endsWith('/') || subject.endsWith(':')
}

/** Returns true when `subject` lies strictly inside `namespace` (starts with it and is longer). */
export function isUnderNamespace(subject: string, namespace: string): boolean {
  return subject.length > namespace.length && subject.startsWith(namespace)
}

/** What a credential's key may do: sign statements (identity) or issue credentials (namespace). */
export type LinkRole = 'identity' | 'namespace'

/** One link of a verified lineage, actor first. */
export interface LineageLink {
  issuer: string
  subject: string
  subjectKey: string
  notBefore: number
  notAfter: number
  /** `namespace` when the subject ends in `/` or `:`, else `identity`. */
  role: LinkRole
}

/** What a verified chain proves: who vouched for the actor's key, through whom. */
export interface CredentialLineage {
  /** Organisation of the trusted issuer at the root of the chain. */
  org: string
  /** Key name of the trusted issuer. */
  issuer: string
  /** Verifier key of the trusted issuer key that signed the last credential. */
  issuerKey: string
  links: LineageLink[]
}

/** What a chain is checked against. */
export interface ChainContext {
  actor: string
  kid: Uint8Array
  /** The statement time (ms) that MUST fall in every credential's window. */
  time: number
  issuers: TrustedIssuers
  cache?: CredentialCache
}

/** What a chain of any first link is checked against (statements and revocations). */
export interface LinksContext {
  /** The key that signed the entry: chain[0] MUST bind it. */
  kid: Uint8Array
  /** The entry's time (ms) that MUST fall in every credential's window. */
  time: number
  issuers: TrustedIssuers
  cache?: CredentialCache
  /** What the entry is, for messages ("statement", "revocation"). */
  what: string
}

/**
 * Checks a credential chain (actor first) and returns the lineage it proves.
 * Order: structure and bindings (subject = actor, an identity credential,
 * subjectKey = kid, each issuer = next subject, every later link a
 * namespace holding the link before it), windows, a trusted issuer by name,
 * then every signature, then the chain against that issuer's subject prefix.
 * Throws UNTRUSTED for a chain that does not tie the actor to a trusted
 * issuer, BAD_SIGNATURE when a signature does not verify, MALFORMED for a
 * chain of the wrong length.
 */
export async function checkCredentialChain(chain: readonly Credential[], ctx: ChainContext): Promise<CredentialLineage> {
  if (chain.length < 1 || chain.length > MAX_CHAIN_LENGTH) throw new TlogError('MALFORMED', 'a credential chain has 1 to 4 credentials')
  const first = chain[0]!
  if (first.subject !== ctx.actor) throw new TlogError('UNTRUSTED', 'the first credential is not for the actor')
  if (isNamespace(first.subject)) {
    throw new TlogError('UNTRUSTED', `${first.subject} is a namespace credential (it ends in / or :): its key issues credentials and never signs statements`)
  }
  const links: LinksContext = { kid: ctx.kid, time: ctx.time, issuers: ctx.issuers, what: 'statement' }
  return checkCredentialLinks(chain, ctx.cache === undefined ? links : { ...links, cache: ctx.cache })
}

/**
 * Checks a non-empty chain whatever its first link is: chain[0] binds
 * `ctx.kid`; every chain[i], i >= 1, is a namespace credential whose
 * subject is chain[i-1]'s issuer and holds chain[i-1]'s subject strictly
 * inside it; `ctx.time` lies in every window; the last is signed by a
 * trusted key of its issuer, whose subject prefix covers the last subject;
 * every signature verifies. Returns the lineage. Throws as
 * checkCredentialChain. The caller checks what chain[0] may do.
 */
export async function checkCredentialLinks(chain: readonly Credential[], ctx: LinksContext): Promise<CredentialLineage> {
  if (chain.length < 1 || chain.length > MAX_CHAIN_LENGTH) throw new TlogError('MALFORMED', 'a credential chain has 1 to 4 credentials')
  const first = chain[0]!
  if (!bytesEqual(first.subjectKey, ctx.kid)) throw new TlogError('UNTRUSTED', `the first credential does not bind the ${ctx.what}'s key`)
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!
    if (ctx.time < c.notBefore || ctx.time > c.notAfter) {
      throw new TlogError('UNTRUSTED', `${ctx.what} time is outside the validity window of credential ${i} (issued by ${c.issuer})`)
    }
    const next = chain[i + 1]
    if (next === undefined) continue
    if (next.subject !== c.issuer) {
      throw new TlogError('UNTRUSTED', `credential ${i + 1} is not for ${c.issuer}, the issuer of credential ${i}`)
    }
    // Issuing authority: only a namespace issues, and only inside itself.
    if (!isNamespace(next.subject)) {
      throw new TlogError('UNTRUSTED', `${next.subject} is an identity credential (no trailing / or :): its key signs for itself and never issues, so credential ${i} for ${c.subject} is not vouched for`)
    }
    if (!isUnderNamespace(c.subject, next.subject)) {
      throw new TlogError('UNTRUSTED', `namespace ${next.subject} may issue only subjects strictly inside it, not ${c.subject}`)
    }
  }
  const last = chain[chain.length - 1]!
  const candidates = ctx.issuers.issuers.filter((t) => t.name === last.issuer)
  if (candidates.length === 0) throw new TlogError('UNTRUSTED', `issuer ${last.issuer} is not trusted`)

  // Credential i is verified with the subjectKey of credential i+1; the last
  // with each trusted key of its issuer (several during a key rotation).
  const items: { i: number; key: Uint8Array; trusted?: TrustedIssuer }[] = []
  for (let i = 0; i < chain.length - 1; i++) items.push({ i, key: chain[i + 1]!.subjectKey })
  for (const t of candidates) items.push({ i: chain.length - 1, key: t.publicKey, trusted: t })
  const cache = ctx.cache
  const keys = cache === undefined ? [] : items.map((it) => cacheKey(chain[it.i]!, it.key))
  // Once one trusted key of the issuer is known to have signed the last
  // credential, the others (a rotation's) are not tried again: a key that
  // did not sign it would otherwise be verified, and fail, every time.
  let rootKnown = false
  const verified = items.map((it, j) => {
    if (cache === undefined || (it.trusted !== undefined && rootKnown)) return false
    const hit = cache.has(keys[j]!)
    if (hit && it.trusted !== undefined) rootKnown = true
    return hit
  })
  const pending = items.flatMap((it, j) => (verified[j] || (it.trusted !== undefined && rootKnown) ? [] : [j]))
  const signed = pending.length === 0 ? [] : chain.map(credentialSignedBytes)
  const verdicts = pending.length === 0 ? [] : await verifyBatch(
    pending.map((j) => ({ publicKey: items[j]!.key, message: signed[items[j]!.i]!, signature: chain[items[j]!.i]!.signature })),
  )
  pending.forEach((j, k) => {
    if (!verdicts[k]) return
    verified[j] = true
    cache?.add(keys[j]!)
  })
  for (let i = 0; i < chain.length - 1; i++) {
    if (!verified[i]) {
      throw new TlogError('BAD_SIGNATURE', `the signature of credential ${i} (issued by ${chain[i]!.issuer}) does not verify`)
    }
  }
  const root = items.find((it, j) => it.trusted !== undefined && verified[j])?.trusted
  if (root === undefined) {
    throw new TlogError('BAD_SIGNATURE', `the signature of credential ${chain.length - 1} does not verify with any trusted key of ${last.issuer}`)
  }
  // Each link holds the one before it, so the last subject under the prefix
  // puts every subject of the chain under it.
  if (!last.subject.startsWith(root.subjectPrefix)) {
    throw new TlogError('UNTRUSTED', `${chain.length === 1 ? 'actor ' : ''}${last.subject} is outside ${root.subjectPrefix}, the subjects ${root.name} may vouch for`)
  }
  return {
    org: root.org,
    issuer: root.name,
    issuerKey: root.vkey,
    links: linksOf(chain),
  }
}

/**
 * A frozen chain (parseStatement's, shared by an actor's statements) gets
 * its links worked out once, and frozen in turn, since every verdict on
 * those statements shares them.
 */
const linksMemo = new WeakMap<readonly Credential[], LineageLink[]>()

function linksOf(chain: readonly Credential[]): LineageLink[] {
  const known = linksMemo.get(chain)
  if (known !== undefined) return known
  const links = chain.map((c): LineageLink => ({
    issuer: c.issuer,
    subject: c.subject,
    subjectKey: toHex(c.subjectKey),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    role: isNamespace(c.subject) ? 'namespace' : 'identity',
  }))
  if (!Object.isFrozen(chain) || !chain.every((c) => Object.isFrozen(c))) return links
  const frozen = Object.freeze(links.map((l) => Object.freeze(l))) as LineageLink[]
  linksMemo.set(chain, frozen)
  return frozen
}
