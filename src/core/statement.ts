import { bytesEqual, utf8Within } from './bytes.ts'
import { cborHeadLength, decodeCbor, encodeCbor, encodeTagged, writeCborHead, type CborMap, type CborValue } from './codec.ts'
import {
  checkCredentialChain,
  credentialFromValue,
  credentialToValue,
  MAX_CHAIN_LENGTH,
  MAX_TEXT_FIELD,
  type Credential,
  type CredentialCache,
  type CredentialLineage,
} from './credential.ts'
import { TlogError } from './errors.ts'
import { REVOCATION_CONTENT_TYPE, SIG_STRUCTURE_CONTEXT, STATEMENT_CONTENT_TYPE } from './hash.ts'
import type { TrustedIssuers } from './policy.ts'
import { publicKeyFromSeed, sign, signSync, verify, PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from './sig.ts'

/**
 * The action statement (DESIGN.md "The action statement"): a COSE_Sign1
 * (RFC 9052) with tag 18, alg Ed25519 (-19, RFC 9864), whose payload is a
 * deterministic CBOR map describing one action, and whose protected header
 * carries the actor's key (kid) and credential chain (-70001, marked crit).
 * The exact tagged bytes are the log entry, the Merkle leaf and the
 * tlog-proof `extra`.
 */

/** COSE tag of COSE_Sign1 (RFC 9052 §4.2). */
export const COSE_SIGN1_TAG = 18
/** COSE alg Ed25519 (RFC 9864). */
export const COSE_ALG_ED25519 = -19
/** Private-use protected header label carrying the credential chain. */
export const HEADER_CREDENTIALS = -70001
/** Largest entry, in bytes. */
export const MAX_ENTRY_SIZE = 16 * 1024
/** Most delegation links. */
export const MAX_DELEGATION = 8
/** Length of `params` (a SHA-256). */
export const PARAMS_SIZE = 32
/** Length of `instruction` (a SHA-256 of the prompt, trigger or ticket that caused the action). */
export const INSTRUCTION_SIZE = 32
/** Length of `nonce`. */
export const NONCE_SIZE = 16
/** Longest optional byte-string field (policy.ref, delegation grant). */
export const MAX_BYTES_FIELD = 1024

/** The policy decision under which the action ran. */
export interface PolicyDecision {
  id: string
  version: string
  decision: string
  ref?: Uint8Array
}

/** One link of the on-behalf-of chain, outermost first. */
export interface DelegationLink {
  principal: string
  scope: string
  grant?: Uint8Array
}

/** Who approved the action. */
export interface Approval {
  by: string
  ref: string
}

/** The payload of an action statement. `time` is ms since the Unix epoch. */
export interface ActionStatement {
  actor: string
  action: string
  target: string
  params: Uint8Array
  tool: string
  policy: PolicyDecision
  delegation?: DelegationLink[]
  approval?: Approval
  /**
   * SHA-256 of the instruction that caused the action (an AI agent's prompt
   * or turn, a pipeline's trigger, a ticket); the text never enters the log.
   */
  instruction?: Uint8Array
  time: number
  nonce: Uint8Array
}

/** A parsed, not yet verified, signed statement. */
export interface SignedStatement {
  /** The exact entry bytes (tagged COSE_Sign1). */
  entry: Uint8Array
  statement: ActionStatement
  /** The actor's Ed25519 public key (header 4). */
  kid: Uint8Array
  /** The credential chain, actor first. */
  credentials: Credential[]
  /** The serialized protected header (the bstr contents). */
  protectedHeader: Uint8Array
  /** The serialized payload (the bstr contents). */
  payload: Uint8Array
  signature: Uint8Array
}

const PAYLOAD_REQUIRED = ['actor', 'action', 'target', 'params', 'tool', 'policy', 'time', 'nonce'] as const
const PAYLOAD_OPTIONAL = ['delegation', 'approval', 'instruction'] as const
const PAYLOAD_KEYS = new Set<string>([...PAYLOAD_REQUIRED, ...PAYLOAD_OPTIONAL])

function bad(msg: string): TlogError {
  return new TlogError('MALFORMED', msg)
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} must be a text string`)
  if (v.length === 0) throw bad(`${what} must not be empty`)
  if (!utf8Within(v, MAX_TEXT_FIELD)) throw bad(`${what} is longer than ${MAX_TEXT_FIELD} bytes`)
  return v
}

function bytes(v: unknown, what: string, len?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(`${what} must be a byte string`)
  if (len !== undefined && v.length !== len) throw bad(`${what} must be ${len} bytes`)
  if (len === undefined && (v.length === 0 || v.length > MAX_BYTES_FIELD)) throw bad(`${what} must be 1 to ${MAX_BYTES_FIELD} bytes`)
  return v
}

function map(v: unknown, what: string, required: readonly string[], optional: readonly string[] = []): CborMap {
  if (!(v instanceof Map)) throw bad(`${what} must be a map`)
  for (const k of v.keys()) {
    if (typeof k !== 'string' || !(required.includes(k) || optional.includes(k))) throw bad(`${what} has an unknown key ${JSON.stringify(k)}`)
  }
  for (const k of required) if (!v.has(k)) throw bad(`${what} is missing ${k}`)
  return v
}

/** Returns the payload map value of a statement, validating its fields (throws MALFORMED or RangeError-free TlogError). */
function payloadValue(s: ActionStatement): CborMap {
  const m: CborMap = new Map<string, CborValue>([
    ['actor', s.actor],
    ['action', s.action],
    ['target', s.target],
    ['params', s.params],
    ['tool', s.tool],
    ['time', s.time],
    ['nonce', s.nonce],
  ])
  const policy: CborMap = new Map<string, CborValue>([
    ['id', s.policy.id],
    ['version', s.policy.version],
    ['decision', s.policy.decision],
  ])
  if (s.policy.ref !== undefined) policy.set('ref', s.policy.ref)
  m.set('policy', policy)
  if (s.delegation !== undefined) {
    m.set(
      'delegation',
      s.delegation.map((d) => {
        const link: CborMap = new Map<string, CborValue>([
          ['principal', d.principal],
          ['scope', d.scope],
        ])
        if (d.grant !== undefined) link.set('grant', d.grant)
        return link
      }),
    )
  }
  if (s.approval !== undefined) {
    m.set('approval', new Map<string, CborValue>([['by', s.approval.by], ['ref', s.approval.ref]]))
  }
  if (s.instruction !== undefined) m.set('instruction', s.instruction)
  statementFromPayloadValue(m)
  return m
}

/** Returns the statement in a decoded payload map. Strict; throws MALFORMED. */
function statementFromPayloadValue(v: CborValue): ActionStatement {
  const m = map(v, 'payload', PAYLOAD_REQUIRED, PAYLOAD_OPTIONAL)
  for (const k of m.keys()) if (!PAYLOAD_KEYS.has(k as string)) throw bad(`payload has an unknown key ${String(k)}`)
  const p = map(m.get('policy'), 'policy', ['id', 'version', 'decision'], ['ref'])
  const time = m.get('time')
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) throw bad('time must be an unsigned integer')
  const st: ActionStatement = {
    actor: text(m.get('actor'), 'actor'),
    action: text(m.get('action'), 'action'),
    target: text(m.get('target'), 'target'),
    params: bytes(m.get('params'), 'params', PARAMS_SIZE),
    tool: text(m.get('tool'), 'tool'),
    policy: {
      id: text(p.get('id'), 'policy.id'),
      version: text(p.get('version'), 'policy.version'),
      decision: text(p.get('decision'), 'policy.decision'),
    },
    time,
    nonce: bytes(m.get('nonce'), 'nonce', NONCE_SIZE),
  }
  if (p.has('ref')) st.policy.ref = bytes(p.get('ref'), 'policy.ref')
  if (m.has('delegation')) {
    const d = m.get('delegation')
    if (!Array.isArray(d)) throw bad('delegation must be an array')
    if (d.length === 0 || d.length > MAX_DELEGATION) throw bad(`delegation has 1 to ${MAX_DELEGATION} links when present`)
    st.delegation = d.map((x, i) => {
      const l = map(x, `delegation[${i}]`, ['principal', 'scope'], ['grant'])
      const link: DelegationLink = { principal: text(l.get('principal'), `delegation[${i}].principal`), scope: text(l.get('scope'), `delegation[${i}].scope`) }
      if (l.has('grant')) link.grant = bytes(l.get('grant'), `delegation[${i}].grant`)
      return link
    })
  }
  if (m.has('approval')) {
    const a = map(m.get('approval'), 'approval', ['by', 'ref'])
    st.approval = { by: text(a.get('by'), 'approval.by'), ref: text(a.get('ref'), 'approval.ref') }
  }
  if (m.has('instruction')) st.instruction = bytes(m.get('instruction'), 'instruction', INSTRUCTION_SIZE)
  return st
}

/** Returns the deterministic CBOR payload of a statement. Throws MALFORMED on invalid fields. */
export function encodePayload(s: ActionStatement): Uint8Array {
  return encodeCbor(payloadValue(s))
}

/** The content types of log entries (COSE header 3): what the payload is. */
export type EntryContentType = typeof STATEMENT_CONTENT_TYPE | typeof REVOCATION_CONTENT_TYPE

/**
 * Returns the serialized protected header for a signer key and credential
 * chain: 1 to 4 credentials for a statement, 0 to 4 for a revocation (a
 * trusted issuer key revokes with an empty chain).
 */
export function encodeProtectedHeader(kid: Uint8Array, credentials: readonly Credential[], contentType: EntryContentType = STATEMENT_CONTENT_TYPE): Uint8Array {
  if (kid.length !== PUBLIC_KEY_SIZE) throw new RangeError('kid is a 32-byte Ed25519 public key')
  const min = contentType === STATEMENT_CONTENT_TYPE ? 1 : 0
  if (credentials.length < min || credentials.length > MAX_CHAIN_LENGTH) throw new RangeError(`a chain has ${min} to ${MAX_CHAIN_LENGTH} credentials`)
  return encodeCbor(
    new Map<number, CborValue>([
      [1, COSE_ALG_ED25519],
      [2, [HEADER_CREDENTIALS]],
      [3, contentType],
      [4, kid],
      [HEADER_CREDENTIALS, credentials.map(credentialToValue)],
    ]),
  )
}

// The fixed start of every Sig_structure: array(4), then text "Signature1".
const SIG_STRUCTURE_START = encodeCbor([SIG_STRUCTURE_CONTEXT]).slice(1)

/**
 * Returns the RFC 9052 §4.4 Sig_structure ["Signature1", protected, h'',
 * payload], deterministic. Framed by hand around the two byte strings (the
 * same bytes the encoder gives; a test compares them), since it is built for
 * every statement checked.
 */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Uint8Array {
  // Written into one buffer: the log and the auditor frame one per statement.
  const start = 1 + SIG_STRUCTURE_START.length
  const out = new Uint8Array(start + cborHeadLength(protectedHeader.length) + protectedHeader.length + 1 + cborHeadLength(payload.length) + payload.length)
  out[0] = 0x84
  out.set(SIG_STRUCTURE_START, 1)
  let o = writeCborHead(out, start, 2, protectedHeader.length)
  out.set(protectedHeader, o)
  o += protectedHeader.length
  out[o++] = 0x40
  o = writeCborHead(out, o, 2, payload.length)
  out.set(payload, o)
  return out
}

/** Returns the tagged COSE_Sign1 entry of its parts. Throws TOO_LARGE over 16 KiB. */
export function assembleSign1(protectedHeader: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  const entry = encodeTagged(COSE_SIGN1_TAG, [protectedHeader, new Map(), payload, signature])
  if (entry.length > MAX_ENTRY_SIZE) throw new TlogError('TOO_LARGE', `entry is larger than ${MAX_ENTRY_SIZE} bytes`)
  return entry
}

/** What signs a statement: the actor's seed and credential chain (actor first). */
export interface StatementSigner {
  seed: Uint8Array
  credentials: readonly Credential[]
}

/**
 * Returns the entry bytes of a statement signed by the actor. The kid is the
 * public key of `signer.seed`. Throws MALFORMED on invalid fields.
 */
export async function buildStatement(s: ActionStatement, signer: StatementSigner): Promise<Uint8Array> {
  const ph = encodeProtectedHeader(publicKeyFromSeed(signer.seed), signer.credentials)
  const payload = encodePayload(s)
  return assembleSign1(ph, payload, await sign(signer.seed, sigStructure(ph, payload)))
}

/** Like buildStatement, synchronous (noble), for callers without WebCrypto. */
export function buildStatementSync(s: ActionStatement, signer: StatementSigner): Uint8Array {
  const ph = encodeProtectedHeader(publicKeyFromSeed(signer.seed), signer.credentials)
  const payload = encodePayload(s)
  return assembleSign1(ph, payload, signSync(signer.seed, sigStructure(ph, payload)))
}

/** A parsed, not yet verified, COSE_Sign1 log entry of either content type. */
export interface Sign1Entry {
  /** The exact entry bytes (tagged COSE_Sign1). */
  entry: Uint8Array
  contentType: EntryContentType
  /** The signer's Ed25519 public key (header 4). */
  kid: Uint8Array
  /** The signer's credential chain, its own first (header -70001; 0 to 4 credentials). */
  credentials: Credential[]
  /** The serialized protected header (the bstr contents). */
  protectedHeader: Uint8Array
  /** The serialized payload (the bstr contents). */
  payload: Uint8Array
  signature: Uint8Array
}

/**
 * Returns the parts of a log entry, without reading its payload or
 * verifying anything. Strict: at most 16 KiB; one deterministic CBOR item
 * tagged 18; a 4-element array; the protected header with exactly alg -19,
 * crit [-70001], one of the two actlog content types, a 32-byte kid and 0..4
 * credentials; an empty unprotected map; a 64-byte signature. Throws
 * MALFORMED or TOO_LARGE. Entries are dispatched on `contentType`.
 */
export function parseSign1(entry: Uint8Array): Sign1Entry {
  if (!(entry instanceof Uint8Array)) throw new TypeError('parseSign1 takes bytes')
  if (entry.length > MAX_ENTRY_SIZE) throw new TlogError('TOO_LARGE', `entry is larger than ${MAX_ENTRY_SIZE} bytes`)
  // The headers and payload stay views of the entry, which the caller keeps anyway.
  const outer = decodeCbor(entry, { tag: COSE_SIGN1_TAG, maxDepth: 3, views: true })
  if (!Array.isArray(outer) || outer.length !== 4) throw bad('COSE_Sign1 must be an array of 4 elements')
  const [phBytes, unprotected, payloadBytes, signature] = outer as [CborValue, CborValue, CborValue, CborValue]
  if (!(phBytes instanceof Uint8Array)) throw bad('protected header must be a byte string')
  if (!(unprotected instanceof Map) || unprotected.size !== 0) throw bad('unprotected header must be an empty map')
  if (!(payloadBytes instanceof Uint8Array)) throw bad('payload must be a byte string (detached payloads are not used)')
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_SIZE) throw bad('signature must be 64 bytes')
  const { contentType, kid, credentials } = protectedHeaderOf(phBytes)
  return { entry, contentType, kid, credentials, protectedHeader: phBytes, payload: payloadBytes, signature }
}

/**
 * Returns the statement in entry bytes, without verifying signatures.
 * Strict: parseSign1's envelope with the action content type and 1..4
 * credentials, and a payload map with exactly the known keys and valid
 * fields. Throws MALFORMED or TOO_LARGE.
 */
export function parseStatement(entry: Uint8Array): SignedStatement {
  if (!(entry instanceof Uint8Array)) throw new TypeError('parseStatement takes bytes')
  const e = parseSign1(entry)
  return statementOfSign1(e)
}

/** Returns the statement of a parsed entry whose content type is the action's. Throws MALFORMED. */
export function statementOfSign1(e: Sign1Entry): SignedStatement {
  if (e.contentType !== STATEMENT_CONTENT_TYPE) throw bad(`content type must be ${STATEMENT_CONTENT_TYPE}`)
  if (e.credentials.length < 1) throw bad('the credential chain has 1 to 4 credentials')
  const statement = statementFromPayloadValue(decodeCbor(e.payload, { maxDepth: 3 }))
  return { entry: e.entry, statement, kid: e.kid, credentials: e.credentials, protectedHeader: e.protectedHeader, payload: e.payload, signature: e.signature }
}

/**
 * Protected headers parsed, by their bytes. An actor signs every action with
 * one key and one credential chain, so its statements share the header's
 * bytes, and the header is a third of what a statement's parse costs (the
 * log parses every statement it takes, the auditor every entry it reads).
 * The same bytes always parse to the same result, so a strict parse is done
 * once per distinct header; a header that does not parse is not kept. The
 * results are shared between statements, hence frozen. A hit is the same
 * bytes (compared in full); the hash only finds the candidate, and two
 * headers with one hash take turns in its slot. Bounded: the oldest is
 * dropped first.
 */
const HEADER_CACHE_MAX = 1024
interface ParsedHeader {
  bytes: Uint8Array
  contentType: EntryContentType
  kid: Uint8Array
  credentials: Credential[]
}
const headerCache = new Map<number, ParsedHeader>()

function protectedHeaderOf(phBytes: Uint8Array): ParsedHeader {
  // The slot is found by the length and the last 32 bytes, which end the
  // last credential's signature: distinct headers differ there. (A string
  // key of all the bytes cost twice the hash and the compare.)
  let h = phBytes.length
  for (let i = Math.max(0, phBytes.length - 32); i < phBytes.length; i++) h = Math.imul(h ^ phBytes[i]!, 0x01000193)
  const hit = headerCache.get(h)
  if (hit !== undefined && bytesEqual(hit.bytes, phBytes)) return hit
  const parsed = parseProtectedHeader(phBytes)
  if (hit === undefined && headerCache.size >= HEADER_CACHE_MAX) headerCache.delete(headerCache.keys().next().value!)
  headerCache.set(h, parsed)
  return parsed
}

function parseProtectedHeader(phBytes: Uint8Array): ParsedHeader {
  const ph = decodeCbor(phBytes, { maxDepth: 4 })
  if (!(ph instanceof Map)) throw bad('protected header must be a map')
  for (const k of ph.keys()) if (![1, 2, 3, 4, HEADER_CREDENTIALS].includes(k as number)) throw bad(`protected header has an unknown label ${String(k)}`)
  if (ph.get(1) !== COSE_ALG_ED25519) throw bad('alg must be -19 (Ed25519, RFC 9864)')
  const crit = ph.get(2)
  if (!Array.isArray(crit) || crit.length !== 1 || crit[0] !== HEADER_CREDENTIALS) throw bad('crit must be [-70001]')
  const contentType = ph.get(3)
  if (contentType !== STATEMENT_CONTENT_TYPE && contentType !== REVOCATION_CONTENT_TYPE) {
    throw bad(`content type must be ${STATEMENT_CONTENT_TYPE} or ${REVOCATION_CONTENT_TYPE}`)
  }
  const kid = ph.get(4)
  if (!(kid instanceof Uint8Array) || kid.length !== PUBLIC_KEY_SIZE) throw bad('kid must be a 32-byte Ed25519 public key')
  const chain = ph.get(HEADER_CREDENTIALS)
  if (!Array.isArray(chain) || chain.length > MAX_CHAIN_LENGTH) throw bad('the credential chain has at most 4 credentials')
  const credentials = Object.freeze(chain.map((v) => Object.freeze(credentialFromValue(v)))) as Credential[]
  return Object.freeze({ bytes: phBytes.slice(), contentType, kid, credentials })
}

/** Throws BAD_SIGNATURE unless the actor's signature over the Sig_structure verifies under kid. */
export async function checkStatementSignature(s: SignedStatement): Promise<void> {
  if (!(await verify(s.kid, sigStructure(s.protectedHeader, s.payload), s.signature))) {
    throw new TlogError('BAD_SIGNATURE', "the actor's signature on the statement does not verify")
  }
}

/** What a statement is verified against. */
export interface StatementContext {
  issuers: TrustedIssuers
  cache?: CredentialCache
}

/**
 * Checks a parsed statement: the actor's signature, then the credential chain
 * to a trusted issuer. Returns the lineage. Throws BAD_SIGNATURE, UNTRUSTED
 * or MALFORMED (see checkCredentialChain).
 */
export async function checkStatement(s: SignedStatement, ctx: StatementContext): Promise<CredentialLineage> {
  await checkStatementSignature(s)
  const chainCtx = { actor: s.statement.actor, kid: s.kid, time: s.statement.time, issuers: ctx.issuers }
  return checkCredentialChain(s.credentials, ctx.cache === undefined ? chainCtx : { ...chainCtx, cache: ctx.cache })
}
