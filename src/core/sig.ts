import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { binaryString, concatBytes } from './bytes.ts'

/**
 * Ed25519 for every signature in actlog: statements, credentials, notes and
 * cosignatures. One rule everywhere (DESIGN.md "Ed25519 rule"):
 *
 *   RFC 8032 §5.1.7 verification WITHOUT the cofactor ([S]B = R + [k]A),
 *   S < L, canonical encodings of A and R, and A not of small order.
 *
 * Verification runs on WebCrypto where the runtime has Ed25519 (Node's
 * OpenSSL, browsers' BoringSSL/NSS) and otherwise on @noble/ed25519. The
 * encoding checks run here, before either backend, so both backends see only
 * inputs on which their equations agree and the verdict never depends on
 * which backend ran. The cofactorless equation for the noble path is written
 * out below because noble's own verify (even with zip215: false) is cofactored.
 */

ed.hashes.sha512 = sha512

/** Length of an Ed25519 public key. */
export const PUBLIC_KEY_SIZE = 32
/** Length of an Ed25519 private seed (RFC 8032 "private key"). */
export const SEED_SIZE = 32
/** Length of an Ed25519 signature. */
export const SIGNATURE_SIZE = 64

// Group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
])
const L = 2n ** 252n + 27742317777372353535851937790883648493n
// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410 §7), for WebCrypto import.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])

/** Which implementation verifies: `auto` prefers a platform verifier, then WebCrypto, then noble. */
export type Ed25519Backend = 'auto' | 'webcrypto' | 'noble'

let backend: Ed25519Backend = 'auto'

/**
 * A platform's own Ed25519 verification (e.g. Node's crypto.verify, whose
 * main-thread cost per call is a tenth of WebCrypto's). It receives only
 * inputs that passed this module's encoding checks, so it decides nothing
 * but the cofactorless equation, as OpenSSL does.
 */
export interface PlatformEd25519 {
  readonly name: string
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>
  /**
   * Optional: the verdicts of many verifications in one call (1 valid, 0
   * not), for callers that check a whole batch; saves a promise per item.
   * Rejects only when the verifier itself fails.
   */
  verifyMany?(items: readonly VerifyItem[]): Promise<Uint8Array>
}

let platform: PlatformEd25519 | undefined

/** Installs (or, with undefined, removes) a platform verifier for the `auto` backend. */
export function usePlatformEd25519(p: PlatformEd25519 | undefined): void {
  platform = p
}

/** Returns the name of the implementation `verify` uses in `auto` mode. */
export async function ed25519Implementation(): Promise<string> {
  if (backend === 'noble') return 'noble'
  if (backend === 'auto' && platform !== undefined) return platform.name
  return (await webCryptoEd25519Available()) ? 'webcrypto' : 'noble'
}
let webCryptoProbe: Promise<boolean> | undefined

/** Selects the verification backend (tests and benchmarks compare them; production uses `auto`). */
export function setEd25519Backend(b: Ed25519Backend): void {
  backend = b
}

function subtle(): SubtleCrypto | undefined {
  return (globalThis as { crypto?: Crypto }).crypto?.subtle
}

/**
 * Returns whether this runtime's WebCrypto can verify Ed25519. Probed once
 * with a real signature, so a runtime that only pretends to support the
 * algorithm falls back to noble.
 */
export function webCryptoEd25519Available(): Promise<boolean> {
  webCryptoProbe ??= (async () => {
    const s = subtle()
    if (s === undefined) return false
    try {
      const seed = new Uint8Array(32).fill(7)
      const pub = publicKeyFromSeed(seed)
      const msg = new Uint8Array([1, 2, 3])
      const sig = ed.sign(msg, seed)
      const key = await s.importKey('raw', buf(pub), { name: 'Ed25519' }, false, ['verify'])
      const ok = await s.verify({ name: 'Ed25519' }, key, buf(sig), buf(msg))
      const bad = await s.verify({ name: 'Ed25519' }, key, buf(sig), buf(new Uint8Array([1, 2, 4])))
      return ok && !bad
    } catch {
      return false
    }
  })()
  return webCryptoProbe
}

function buf(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u as Uint8Array<ArrayBuffer>
}

/** Returns 32 random bytes from the platform CSPRNG, for use as an Ed25519 seed. */
export function generateSeed(): Uint8Array {
  const seed = new Uint8Array(SEED_SIZE)
  globalThis.crypto.getRandomValues(seed)
  return seed
}

const publicKeys = new Map<string, Uint8Array>()

/** Returns the Ed25519 public key of a 32-byte seed (cached: deriving one is a scalar multiplication). */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_SIZE) throw new RangeError('an Ed25519 seed is 32 bytes')
  const id = binaryString(seed)
  let pub = publicKeys.get(id)
  if (pub === undefined) {
    pub = ed.getPublicKey(seed)
    remember(publicKeys, id, pub, 256)
  }
  return pub.slice()
}

/** Returns the RFC 8032 Ed25519 signature of `message` under `seed` (synchronous, noble). */
export function signSync(seed: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_SIZE) throw new RangeError('an Ed25519 seed is 32 bytes')
  return ed.sign(message, seed)
}

const signKeyCache = new Map<string, Promise<CryptoKey>>()

/**
 * Returns the Ed25519 signature of `message` under `seed`, using WebCrypto
 * when available (much faster than noble; Ed25519 signing is deterministic,
 * so both give the same bytes).
 */
export async function sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_SIZE) throw new RangeError('an Ed25519 seed is 32 bytes')
  const s = subtle()
  if (backend === 'noble' || s === undefined || !(await webCryptoEd25519Available())) return signSync(seed, message)
  const id = binaryString(seed)
  let key = signKeyCache.get(id)
  if (key === undefined) {
    key = s.importKey('pkcs8', buf(concatBytes(PKCS8_PREFIX, seed)), { name: 'Ed25519' }, false, ['sign'])
    remember(signKeyCache, id, key, 256)
  }
  return new Uint8Array(await s.sign({ name: 'Ed25519' }, await key, buf(message)))
}


function remember<V>(cache: Map<string, V>, key: string, value: V, max: number): void {
  if (cache.size >= max) {
    const oldest = cache.keys().next().value
    if (oldest !== undefined) cache.delete(oldest)
  }
  cache.set(key, value)
}

function leToBigint(b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!)
  return n
}

/** True when the little-endian scalar in `s` is below the group order L. */
function scalarIsCanonical(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! < L_LE[i]!) return true
    if (s[i]! > L_LE[i]!) return false
  }
  return false
}

/**
 * True when `enc` is a canonical point encoding as far as can be told without
 * decompressing: y < p, and the sign bit is clear when x = 0 (y = ±1).
 */
export function encodingIsCanonical(enc: Uint8Array): boolean {
  // Compared byte-wise, little-endian, with the sign bit masked off: y >= p
  // only when y is one of p..2^255-1 (top bytes all ones, low byte >= 0xed);
  // with the sign bit set, y = 1 and y = p-1 (x = 0) have no negative x.
  const top = enc[31]! & 0x7f
  let middleOnes = top === 0x7f
  let middleZeros = top === 0
  for (let i = 1; i < 31; i++) {
    if (enc[i] !== 0xff) middleOnes = false
    if (enc[i] !== 0) middleZeros = false
  }
  const low = enc[0]!
  if (middleOnes && low >= 0xed) return false
  if ((enc[31]! & 0x80) !== 0 && ((middleZeros && low === 1) || (middleOnes && low === 0xec))) return false
  return true
}

const publicKeyVerdicts = new Map<string, boolean>()

/**
 * Returns whether `pub` is an acceptable Ed25519 public key under the rule:
 * 32 bytes, a canonical encoding of a curve point, not of small order.
 * Verdicts are cached per key, since decompression costs about as much as a
 * verification and the same few keys sign most messages.
 */
export function isValidPublicKey(pub: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || pub.length !== PUBLIC_KEY_SIZE) return false
  const id = binaryString(pub)
  const known = publicKeyVerdicts.get(id)
  if (known !== undefined) return known
  let ok = false
  if (encodingIsCanonical(pub)) {
    try {
      ok = !ed.Point.fromBytes(pub, false).isSmallOrder()
    } catch {
      ok = false
    }
  }
  remember(publicKeyVerdicts, id, ok, 65536)
  return ok
}

/** The checks of the rule that do not depend on the backend; false means the signature is refused. */
function preCheck(pub: Uint8Array, sig: Uint8Array): boolean {
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_SIZE) return false
  if (!scalarIsCanonical(sig.subarray(32))) return false
  if (!encodingIsCanonical(sig.subarray(0, 32))) return false
  return isValidPublicKey(pub)
}

/**
 * Cofactorless RFC 8032 §5.1.7 verification on noble's point arithmetic.
 * Callers MUST have run preCheck.
 */
function nobleEquation(pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    const A = ed.Point.fromBytes(pub, false)
    const R = ed.Point.fromBytes(sig.subarray(0, 32), false)
    const s = leToBigint(sig.subarray(32))
    const k = leToBigint(sha512(concatBytes(sig.subarray(0, 32), pub, message))) % L
    const sB = ed.Point.BASE.multiply(s, false)
    return sB.equals(R.add(A.multiply(k, false)))
  } catch {
    return false
  }
}

/** Returns whether `sig` is a valid signature under the rule, verified by noble (synchronous). */
export function verifyNoble(pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return preCheck(pub, sig) && nobleEquation(pub, message, sig)
}

const verifyKeyCache = new Map<string, Promise<CryptoKey | undefined>>()

/**
 * Returns whether `sig` is valid under the rule, verified by WebCrypto, or
 * undefined when this runtime's WebCrypto has no Ed25519.
 */
export async function verifyWebCrypto(
  pub: Uint8Array,
  message: Uint8Array,
  sig: Uint8Array,
): Promise<boolean | undefined> {
  const s = subtle()
  if (s === undefined || !(await webCryptoEd25519Available())) return undefined
  if (!preCheck(pub, sig)) return false
  const id = binaryString(pub)
  let key = verifyKeyCache.get(id)
  if (key === undefined) {
    key = s.importKey('raw', buf(pub), { name: 'Ed25519' }, false, ['verify']).catch(() => undefined)
    remember(verifyKeyCache, id, key, 4096)
  }
  const k = await key
  if (k === undefined) return false
  try {
    return await s.verify({ name: 'Ed25519' }, k, buf(sig), buf(message))
  } catch {
    return false
  }
}

/**
 * Returns whether `sig` is a valid Ed25519 signature of `message` by `pub`
 * under the rule above. Never throws on attacker-controlled input.
 */
export async function verify(pub: Uint8Array, message: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (backend === 'auto' && platform !== undefined) {
    if (!preCheck(pub, sig)) return false
    try {
      return await platform.verify(pub, message, sig)
    } catch {
      return false
    }
  }
  if (backend !== 'noble') {
    const r = await verifyWebCrypto(pub, message, sig)
    if (r !== undefined) return r
    if (backend === 'webcrypto') throw new Error('WebCrypto Ed25519 is not available in this runtime')
  }
  return verifyNoble(pub, message, sig)
}

/** One verification of a batch. */
export interface VerifyItem {
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

/**
 * Returns the verdict of each item, in order. Keeps up to `concurrency`
 * verifications in flight, so WebCrypto's work runs on the runtime's worker
 * threads in parallel rather than one at a time; a platform verifier with
 * verifyMany gets the whole batch at once. Rejects when that verifier itself
 * fails (no verdict), never on bad input.
 */
export async function verifyBatch(items: readonly VerifyItem[], concurrency = 64): Promise<boolean[]> {
  const many = backend === 'auto' ? platform?.verifyMany?.bind(platform) : undefined
  if (many !== undefined) {
    // The rule's encoding checks here, as for single verifications; only
    // what passes them reaches the platform.
    const passed: number[] = []
    for (let i = 0; i < items.length; i++) if (preCheck(items[i]!.publicKey, items[i]!.signature)) passed.push(i)
    const out = new Array<boolean>(items.length).fill(false)
    if (passed.length === 0) return out
    let verdicts: Uint8Array
    try {
      verdicts = await many(passed.length === items.length ? items : passed.map((i) => items[i]!))
    } catch (cause) {
      // A verifier that fails (a worker thread that died) has said nothing
      // about the signatures: answering "invalid" would have an auditor
      // accuse a log of a machine's fault.
      throw new Error('the Ed25519 verifier failed; no verdict on these signatures', { cause })
    }
    passed.forEach((i, k) => (out[i] = verdicts[k] === 1))
    return out
  }
  const out = new Array<boolean>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      const it = items[i]!
      out[i] = await verify(it.publicKey, it.message, it.signature)
    }
  }
  const n = Math.max(1, Math.min(concurrency, items.length))
  await Promise.all(Array.from({ length: n }, worker))
  return out
}
