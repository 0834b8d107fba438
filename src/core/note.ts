import { concatBytes, fromBase64, fromHex, fromUtf8, readU32be, toBase64, u32be, utf8, utf8Length } from './bytes.ts'
import { TlogError } from './errors.ts'
import { SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, sha256 } from './hash.ts'
import { isValidPublicKey, publicKeyFromSeed, sign, verify, SIGNATURE_SIZE } from './sig.ts'

/**
 * c2sp.org/signed-note: notes, verifier keys ("vkeys"), signer keys, key IDs,
 * signing, and opening a note with a set of trusted verifiers.
 *
 * A note is UTF-8 text ending in a newline, a blank line, and one or more
 * lines `— <key name> <base64(key ID || signature)>`. The text is everything
 * before the last blank line. Verifiers are looked up by (name, key ID);
 * signatures from unknown keys are ignored, a known key's failing signature
 * rejects the note, and a note with no verified known signature is rejected.
 */

/** Largest note accepted, in bytes (room for many post-quantum signatures). */
export const MAX_NOTE_SIZE = 256 * 1024
/** Most signature lines accepted in one note; signed-note requires at least 16. */
export const MAX_NOTE_SIGNATURES = 64
/** Longest key name accepted, in bytes. */
export const MAX_KEY_NAME = 256

const EM_DASH_PREFIX = '\u2014 '
const SIGNER_KEY_PREFIX = 'PRIVATE+KEY+'

/** One signature line of a note. */
export interface NoteSignature {
  name: string
  /** The 32-bit key ID. */
  keyId: number
  /** The signature bytes after the key ID. */
  signature: Uint8Array
}

/** A parsed note: its text (ending in a newline) and its signature lines, in order. */
export interface Note {
  text: string
  signatures: NoteSignature[]
}

/** Verifies signatures of one key, identified by (name, keyId). */
export interface NoteVerifier {
  readonly name: string
  readonly keyId: number
  /** Returns whether `signature` (the bytes after the key ID) is valid over the note text. Never throws. */
  verify(text: Uint8Array, signature: Uint8Array): Promise<boolean>
}

/** Produces signatures of one key over note texts. */
export interface NoteSigner {
  readonly name: string
  readonly keyId: number
  /** Returns the signature bytes (without the key ID) over `text`. */
  sign(text: Uint8Array): Promise<Uint8Array>
}

const UNICODE_SPACE = /[\s\u0085]/u

/** Returns whether `name` is a valid key name: non-empty, no Unicode spaces, no `+`, at most 256 bytes. */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    utf8(name).length <= MAX_KEY_NAME &&
    !name.includes('+') &&
    !UNICODE_SPACE.test(name) &&
    !hasControl(name)
  )
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

/** Returns the signed-note key ID: SHA-256(name || 0x0A || type || publicKey)[:4] as a uint32. */
export function computeKeyId(name: string, type: number, publicKey: Uint8Array): number {
  return readU32be(sha256(concatBytes(utf8(name), new Uint8Array([0x0a, type]), publicKey)), 0)
}

/** A parsed verifier key. */
export interface VerifierKey {
  name: string
  keyId: number
  /** Signature type byte: 0x01 (Ed25519) or 0x04 (cosignature/v1). */
  type: number
  publicKey: Uint8Array
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0')
}

/** Returns the vkey text `<name>+<hex key ID>+<base64(type || publicKey)>`. */
export function encodeVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new RangeError(`invalid key name ${JSON.stringify(name)}`)
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw new RangeError('unsupported key type')
  return `${name}+${hex8(computeKeyId(name, type, publicKey))}+${toBase64(concatBytes(new Uint8Array([type]), publicKey))}`
}

/**
 * Returns the key a vkey string names. Strict: valid key name, 8 lowercase
 * hex digits matching the computed key ID, canonical base64, type 0x01 or
 * 0x04 with a 32-byte Ed25519 key that passes the Ed25519 rule. Throws
 * MALFORMED otherwise.
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  const bad = (why: string): TlogError => new TlogError('MALFORMED', `verifier key: ${why}`)
  if (typeof vkey !== 'string' || vkey.length > 1024) throw bad('not a key')
  const p1 = vkey.indexOf('+')
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1)
  if (p1 < 0 || p2 < 0) throw bad('expected <name>+<key ID>+<key>')
  const name = vkey.slice(0, p1)
  const idHex = vkey.slice(p1 + 1, p2)
  if (!isValidKeyName(name)) throw bad('invalid key name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw bad('key ID must be 8 lowercase hex digits')
  const raw = fromBase64(vkey.slice(p2 + 1))
  const type = raw[0]
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw bad(`unsupported signature type ${type ?? 'none'}`)
  const publicKey = raw.slice(1)
  if (publicKey.length !== 32) throw bad('an Ed25519 key is 32 bytes')
  if (!isValidPublicKey(publicKey)) throw bad('not an acceptable Ed25519 public key')
  const keyId = readU32be(fromHex(idHex), 0)
  if (keyId !== computeKeyId(name, type, publicKey)) throw bad('key ID does not match the key')
  return { name, keyId, type, publicKey }
}

/** A parsed signer key: the name, type and 32-byte Ed25519 seed. */
export interface SignerKey {
  name: string
  keyId: number
  type: number
  seed: Uint8Array
  publicKey: Uint8Array
}

/** Returns the signer key text `PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>` (Go note format). */
export function encodeSignerKey(name: string, type: number, seed: Uint8Array): string {
  const publicKey = publicKeyFromSeed(seed)
  const id = hex8(computeKeyId(name, type, publicKey))
  if (!isValidKeyName(name)) throw new RangeError(`invalid key name ${JSON.stringify(name)}`)
  return `${SIGNER_KEY_PREFIX}${name}+${id}+${toBase64(concatBytes(new Uint8Array([type]), seed))}`
}

/** Returns the key a signer key string holds. Throws MALFORMED on any deviation. */
export function parseSignerKey(skey: string): SignerKey {
  const bad = (why: string): TlogError => new TlogError('MALFORMED', `signer key: ${why}`)
  if (typeof skey !== 'string' || !skey.startsWith(SIGNER_KEY_PREFIX)) throw bad('expected PRIVATE+KEY+...')
  const rest = skey.slice(SIGNER_KEY_PREFIX.length)
  const p1 = rest.indexOf('+')
  const p2 = p1 < 0 ? -1 : rest.indexOf('+', p1 + 1)
  if (p1 < 0 || p2 < 0) throw bad('expected <name>+<key ID>+<key>')
  const name = rest.slice(0, p1)
  const idHex = rest.slice(p1 + 1, p2)
  if (!isValidKeyName(name)) throw bad('invalid key name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw bad('key ID must be 8 lowercase hex digits')
  const raw = fromBase64(rest.slice(p2 + 1))
  const type = raw[0]
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw bad(`unsupported signature type ${type ?? 'none'}`)
  const seed = raw.slice(1)
  if (seed.length !== 32) throw bad('an Ed25519 seed is 32 bytes')
  const publicKey = publicKeyFromSeed(seed)
  const keyId = readU32be(fromHex(idHex), 0)
  if (keyId !== computeKeyId(name, type, publicKey)) throw bad('key ID does not match the key')
  return { name, keyId, type, seed, publicKey }
}

/** Returns a verifier of plain Ed25519 note signatures (type 0x01). */
export function ed25519Verifier(name: string, publicKey: Uint8Array): NoteVerifier {
  const keyId = computeKeyId(name, SIG_TYPE_ED25519, publicKey)
  return {
    name,
    keyId,
    verify: async (text, signature) => signature.length === SIGNATURE_SIZE && verify(publicKey, text, signature),
  }
}

/** Returns a signer of plain Ed25519 note signatures (type 0x01). */
export function ed25519Signer(name: string, seed: Uint8Array): NoteSigner {
  if (!isValidKeyName(name)) throw new RangeError(`invalid key name ${JSON.stringify(name)}`)
  const keyId = computeKeyId(name, SIG_TYPE_ED25519, publicKeyFromSeed(seed))
  return { name, keyId, sign: (text) => sign(seed, text) }
}

/** Returns a NoteVerifier for a parsed vkey of type 0x01; cosignature keys need cosignatureVerifier. */
export function verifierFromKey(key: VerifierKey): NoteVerifier {
  if (key.type !== SIG_TYPE_ED25519) throw new RangeError('not an Ed25519 note key (type 0x01)')
  return ed25519Verifier(key.name, key.publicKey)
}

/**
 * Returns the note in `input`. Strict: valid UTF-8, at most MAX_NOTE_SIZE
 * bytes, no control characters but newline, text ending in a newline, a
 * blank line, then 1..MAX_NOTE_SIGNATURES well-formed signature lines with
 * canonical base64 of at least 5 bytes. Throws MALFORMED or TOO_LARGE.
 */
export function parseNote(input: Uint8Array | string): Note {
  const bytesLen = typeof input === 'string' ? utf8Length(input, MAX_NOTE_SIZE) : input.length
  if (bytesLen > MAX_NOTE_SIZE) throw new TlogError('TOO_LARGE', `note is larger than ${MAX_NOTE_SIZE} bytes`)
  const s = typeof input === 'string' ? input : fromUtf8(input)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && c !== 0x0a) || c === 0x7f) throw new TlogError('MALFORMED', 'note contains a control character')
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1)
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) throw new TlogError('MALFORMED', 'note is not valid Unicode')
      i++
    }
  }
  const split = s.lastIndexOf('\n\n')
  if (split < 0) throw new TlogError('MALFORMED', 'note has no blank line before its signatures')
  const text = s.slice(0, split + 1)
  const sigBlock = s.slice(split + 2)
  if (!sigBlock.endsWith('\n')) throw new TlogError('MALFORMED', 'note does not end in a newline')
  const lines = sigBlock.slice(0, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw new TlogError('MALFORMED', `note has more than ${MAX_NOTE_SIGNATURES} signatures`)
  return { text, signatures: lines.map(parseSignatureLine) }
}

/** Returns the signature in one note signature line (without its newline). Throws MALFORMED. */
export function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(EM_DASH_PREFIX)) throw new TlogError('MALFORMED', 'signature line does not start with an em dash and a space')
  const rest = line.slice(EM_DASH_PREFIX.length)
  const sp = rest.indexOf(' ')
  if (sp < 0 || rest.indexOf(' ', sp + 1) >= 0) throw new TlogError('MALFORMED', 'signature line is not "— <name> <signature>"')
  const name = rest.slice(0, sp)
  if (!isValidKeyName(name)) throw new TlogError('MALFORMED', 'signature line has an invalid key name')
  const raw = fromBase64(rest.slice(sp + 1))
  if (raw.length < 5) throw new TlogError('MALFORMED', 'signature is shorter than a key ID and one byte')
  return { name, keyId: readU32be(raw, 0), signature: raw.slice(4) }
}

/** Returns the line `— <name> <base64>` (without newline) for a signature. */
export function encodeSignatureLine(sig: NoteSignature): string {
  return `${EM_DASH_PREFIX}${sig.name} ${toBase64(concatBytes(u32be(sig.keyId), sig.signature))}`
}

/** Returns the text of a note: its text, a blank line and its signature lines. */
export function encodeNote(note: Note): string {
  if (note.signatures.length === 0) throw new RangeError('a note needs at least one signature')
  return `${note.text}\n${note.signatures.map((s) => encodeSignatureLine(s) + '\n').join('')}`
}

/** Throws MALFORMED unless `text` can be the text of a note. */
export function checkNoteText(text: string): void {
  if (!text.endsWith('\n')) throw new TlogError('MALFORMED', 'note text must end in a newline')
  parseNote(`${text}\n${EM_DASH_PREFIX}x AAAAAAA=\n`)
}

/** Returns the note signed by each of `signers`, in order. */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  checkNoteText(text)
  const msg = utf8(text)
  const signatures = await Promise.all(
    signers.map(async (s) => ({ name: s.name, keyId: s.keyId, signature: await s.sign(msg) })),
  )
  return encodeNote({ text, signatures })
}

/** The outcome of checking one signature line against a verifier set. */
export interface SignatureCheck {
  signature: NoteSignature
  /** The verifier with the same name and key ID, if any. */
  verifier?: NoteVerifier
  /** True when a known verifier accepted the signature. */
  valid: boolean
}

/**
 * Returns, for each signature line, the matching verifier (by name and key
 * ID) and whether it verified. Unknown signatures are reported with no
 * verifier. A line repeated verbatim is reported once (as Go's note.Open
 * drops repeats); a key that signed twice with different signatures has both
 * checked. Never throws on a bad signature: callers choose the policy.
 */
export async function checkSignatures(note: Note, verifiers: readonly NoteVerifier[]): Promise<SignatureCheck[]> {
  const msg = utf8(note.text)
  const seen = new Set<string>()
  const unique = note.signatures.filter((s) => {
    const id = encodeSignatureLine(s)
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
  return Promise.all(
    unique.map(async (signature) => {
      const verifier = verifiers.find((v) => v.name === signature.name && v.keyId === signature.keyId)
      if (verifier === undefined) return { signature, valid: false }
      return { signature, verifier, valid: await verifier.verify(msg, signature.signature) }
    }),
  )
}

/** The result of opening a note. */
export interface OpenedNote {
  note: Note
  /** The signatures of known keys, all verified, in note order. */
  verified: SignatureCheck[]
}

/**
 * Returns the note with its verified signatures. Throws BAD_SIGNATURE when a
 * signature of a known key fails (the whole note is rejected, as
 * signed-note recommends), and UNTRUSTED when no known key signed it.
 */
export async function openNote(input: Uint8Array | string | Note, verifiers: readonly NoteVerifier[]): Promise<OpenedNote> {
  const note = typeof input === 'string' || input instanceof Uint8Array ? parseNote(input) : input
  const checks = await checkSignatures(note, verifiers)
  const failed = checks.find((c) => c.verifier !== undefined && !c.valid)
  if (failed !== undefined) throw new TlogError('BAD_SIGNATURE', `signature by ${failed.signature.name} does not verify`)
  const keys = new Set<string>()
  const verified = checks.filter((c) => {
    const id = `${c.signature.name}+${c.signature.keyId}`
    if (!c.valid || keys.has(id)) return false
    keys.add(id)
    return true
  })
  if (verified.length === 0) throw new TlogError('UNTRUSTED', 'note has no signature from a trusted key')
  return { note, verified }
}
