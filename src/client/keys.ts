import {
  MAX_CHAIN_LENGTH,
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  encodeCredential,
  encodeSignerKey,
  encodeVerifierKey,
  fromBase64,
  generateSeed,
  issueCredential,
  isNamespace,
  isUnderNamespace,
  isValidKeyName,
  parseCredential,
  parseSignerKey,
  parseVerifierKey,
  toBase64,
  type Credential,
  type SignerKey,
} from '../core/index.ts'

/** The kinds of keys actlog uses. Witness keys sign cosignature/v1 (type 0x04); the others sign plain Ed25519 (0x01). */
export const KEY_KINDS = ['log', 'witness', 'issuer', 'actor'] as const

/** What a key is for: a log, a witness, a credential issuer or an actor (agent, workload). */
export type KeyKind = (typeof KEY_KINDS)[number]

/** Default validity of a credential issued without `notAfter`: 90 days, in ms. */
export const DEFAULT_VALIDITY_MS = 90 * 86_400_000

/**
 * Returns a new key named `name` with a fresh random seed. The name is what
 * others configure: the log's origin, the witness's name, the issuer name
 * credentials carry, or the actor's identity (e.g. `spiffe://acme.example/agent/payments`).
 * Throws RangeError on an invalid name (empty, with spaces or `+`).
 */
export function generateKey(name: string, kind: KeyKind = 'actor'): SignerKey {
  if (!(KEY_KINDS as readonly string[]).includes(kind)) throw new RangeError(`the key kind must be one of ${KEY_KINDS.join(', ')}`)
  if (!isValidKeyName(name)) throw new RangeError(`${JSON.stringify(name)} is not a valid key name: it must be non-empty, without spaces or "+"`)
  const seed = generateSeed()
  const type = kind === 'witness' ? SIG_TYPE_COSIGNATURE_V1 : SIG_TYPE_ED25519
  return parseSignerKey(encodeSignerKey(name, type, seed))
}

/**
 * Returns the key as signer-key text (`PRIVATE+KEY+<name>+<key ID>+<base64>`,
 * the Go signed-note format), the form `loadKey` reads. The text is secret:
 * store it readable only by its owner.
 */
export function encodeKey(key: SignerKey): string {
  return encodeSignerKey(key.name, key.type, key.seed)
}

/** Returns the key held in signer-key text (surrounding whitespace ignored). Throws TlogError MALFORMED on anything else. */
export function loadKey(text: string): SignerKey {
  return parseSignerKey(text.trim())
}

/** Returns the public verifier key (vkey) of a key: what a policy, a witness or an issuers file lists. */
export function verifierKey(key: SignerKey): string {
  return encodeVerifierKey(key.name, key.type, key.publicKey)
}

/**
 * Returns a credential chain as text: one base64 credential (its
 * deterministic CBOR) per line, the subject's first, after an optional `#`
 * comment line. `loadCredentials` reads it back.
 */
export function encodeCredentials(chain: readonly Credential[], comment?: string): string {
  const lines = comment === undefined ? [] : [`# ${comment.replace(/[\r\n]+/g, ' ')}`]
  for (const c of chain) lines.push(toBase64(encodeCredential(c)))
  return lines.join('\n') + '\n'
}

/**
 * Returns the credential chain in `text` (as `encodeCredentials` writes it;
 * blank and `#` lines ignored). Throws TlogError MALFORMED on a bad line and
 * RangeError when the text holds no credential.
 */
export function loadCredentials(text: string): Credential[] {
  const chain = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => parseCredential(fromBase64(l)))
  if (chain.length === 0) throw new RangeError('the text holds no credential')
  return chain
}

/** What `issueCredentialChain` binds. */
export interface IssueOptions {
  /** The identity the credential is for: an actor, or an intermediate issuer's name. */
  subject: string
  /** The subject's public key: its key, its verifier key (vkey text) or 32 raw bytes. */
  subjectKey: SignerKey | string | Uint8Array
  /**
   * The namespace the issuer is trusted for (its subject prefix in the
   * trusted-issuers file, e.g. `spiffe://acme.example/`). When given, a
   * subject outside it is refused here instead of by every verifier later.
   */
  namespace?: string
  /**
   * The issuer's own chain, when the issuer is an intermediate (its
   * credential first). An intermediate is a namespace: its key's name ends
   * in `/` or `:`, and it issues only subjects strictly inside it
   * (docs/formats.md, DESIGN.md "Issuing authority").
   */
  issuerChain?: readonly Credential[]
  /** Start of validity, ms since the epoch (default: one minute before `now`, for clock skew). */
  notBefore?: number
  /** End of validity, ms since the epoch (default: `notBefore` + `validForMs`). */
  notAfter?: number
  /** Validity when `notAfter` is not given, in ms (default 90 days). */
  validForMs?: number
  /** The current time, ms since the epoch (default: the clock). */
  now?: number
}

/**
 * Returns the chain `[new credential, ...issuerChain]`: the issuer signs a
 * credential binding `subject` to its key for a validity window. A subject
 * ending in `/` or `:` gets a namespace credential (its key issues for
 * subjects under it and never signs statements); any other subject, an
 * identity credential (its key signs statements and never issues). Throws
 * RangeError on misuse: an issuer key that is not plain Ed25519, a subject
 * outside `namespace`, an `issuerChain` for someone else or whose issuer is
 * not a namespace holding the subject, a chain longer than 4, or a window
 * that ends before it starts.
 */
export async function issueCredentialChain(issuer: SignerKey, o: IssueOptions): Promise<Credential[]> {
  if (issuer.type !== SIG_TYPE_ED25519) throw new RangeError(`the key of ${issuer.name} is not an issuer key (it has signature type ${issuer.type})`)
  if (o.namespace !== undefined && !o.subject.startsWith(o.namespace)) {
    throw new RangeError(`the subject ${o.subject} is outside the namespace ${o.namespace} the issuer is trusted for`)
  }
  const subjectKey = typeof o.subjectKey === 'string' ? parseVerifierKey(o.subjectKey).publicKey : o.subjectKey instanceof Uint8Array ? o.subjectKey : o.subjectKey.publicKey
  const parent = o.issuerChain ?? []
  if (parent.length > 0) {
    if (parent[0]!.subject !== issuer.name) throw new RangeError(`the issuer chain is for ${parent[0]!.subject}, but the issuer key is ${issuer.name}`)
    if (!isNamespace(issuer.name)) throw new RangeError(`${issuer.name} is an identity (no trailing / or :): its key signs for itself and cannot issue credentials`)
    if (!isUnderNamespace(o.subject, issuer.name)) throw new RangeError(`the namespace ${issuer.name} may issue only subjects strictly inside it, not ${o.subject}`)
  }
  if (parent.length + 1 > MAX_CHAIN_LENGTH) throw new RangeError(`a credential chain has at most ${MAX_CHAIN_LENGTH} credentials`)
  const now = o.now ?? Date.now()
  const notBefore = o.notBefore ?? now - 60_000
  const notAfter = o.notAfter ?? notBefore + (o.validForMs ?? DEFAULT_VALIDITY_MS)
  if (notAfter < notBefore) throw new RangeError('notAfter is before notBefore')
  const cred = await issueCredential({ issuer: issuer.name, subject: o.subject, subjectKey, notBefore, notAfter }, issuer.seed)
  return [cred, ...parent]
}

