import { concatBytes, readU64be, u64be, utf8 } from './bytes.ts'
import { TlogError } from './errors.ts'
import { COSIGNATURE_V1_HEADER, SIG_TYPE_COSIGNATURE_V1 } from './hash.ts'
import { computeKeyId, isValidKeyName, type NoteSignature, type NoteSigner, type NoteVerifier } from './note.ts'
import { publicKeyFromSeed, sign, verify, SIGNATURE_SIZE } from './sig.ts'

/**
 * c2sp.org/tlog-cosignature, Ed25519 `cosignature/v1` (signature type 0x04).
 *
 * The signature bytes after the key ID are a timestamped_signature:
 * u64 big-endian POSIX seconds || 64-byte Ed25519 signature over
 *
 *   cosignature/v1\ntime <seconds>\n<checkpoint note text>
 *
 * Timestamps are seconds (milliseconds appear only in statements).
 */

/** Length of a cosignature/v1 signature after the key ID. */
export const COSIGNATURE_V1_SIZE = 8 + SIGNATURE_SIZE

/** Largest timestamp the spec allows (2^63 - 1). */
const MAX_TIMESTAMP = (1n << 63n) - 1n

/** Returns the exact message a cosignature/v1 signs for a checkpoint text at `timestamp` (seconds). */
export function cosignatureMessage(checkpointText: string | Uint8Array, timestamp: number | bigint): Uint8Array {
  const t = BigInt(timestamp)
  if (t < 0n || t > MAX_TIMESTAMP) throw new RangeError('cosignature timestamp out of range')
  const body = typeof checkpointText === 'string' ? utf8(checkpointText) : checkpointText
  return concatBytes(utf8(`${COSIGNATURE_V1_HEADER}time ${t.toString()}\n`), body)
}

/**
 * Returns the timestamp (seconds) of a cosignature/v1 signature, as a number,
 * or Infinity when it is beyond 2^53 - 1 (hundreds of millions of years in
 * the future, so every caller refuses it as future). Throws MALFORMED when
 * the bytes are not a cosignature/v1 signature or the time exceeds 2^63 - 1.
 */
export function cosignatureTimestamp(signature: Uint8Array): number {
  if (signature.length !== COSIGNATURE_V1_SIZE) throw new TlogError('MALFORMED', 'cosignature/v1 signature is not 72 bytes')
  const t = readU64be(signature, 0)
  if (t > MAX_TIMESTAMP) throw new TlogError('MALFORMED', 'cosignature timestamp exceeds 2^63 - 1')
  return t > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(t)
}

/** A cosigner's verifier: a NoteVerifier of type 0x04 that also exposes the key. */
export interface CosignatureVerifier extends NoteVerifier {
  readonly publicKey: Uint8Array
}

/** Returns the verifier of cosignature/v1 signatures by the cosigner `name` with `publicKey`. */
export function cosignatureVerifier(name: string, publicKey: Uint8Array): CosignatureVerifier {
  const keyId = computeKeyId(name, SIG_TYPE_COSIGNATURE_V1, publicKey)
  return {
    name,
    keyId,
    publicKey,
    async verify(text, signature) {
      if (signature.length !== COSIGNATURE_V1_SIZE) return false
      const t = readU64be(signature, 0)
      if (t > MAX_TIMESTAMP) return false
      return verify(publicKey, cosignatureMessage(text, t), signature.subarray(8))
    },
  }
}

/**
 * Returns a signer of cosignature/v1 signatures. `now` supplies the time in
 * seconds (core has no clock); it is called once per signature.
 */
export function cosignatureSigner(name: string, seed: Uint8Array, now: () => number): NoteSigner {
  if (!isValidKeyName(name)) throw new RangeError(`invalid cosigner name ${JSON.stringify(name)}`)
  const keyId = computeKeyId(name, SIG_TYPE_COSIGNATURE_V1, publicKeyFromSeed(seed))
  return {
    name,
    keyId,
    async sign(text) {
      const t = now()
      if (!Number.isSafeInteger(t) || t < 0) throw new RangeError('cosignature time must be whole seconds')
      const sig = await sign(seed, cosignatureMessage(text, t))
      return concatBytes(u64be(t), sig)
    },
  }
}

/** Returns true when `sig` is shaped like a cosignature/v1 signature (72 bytes after the key ID). */
export function isCosignatureV1Shape(sig: NoteSignature): boolean {
  return sig.signature.length === COSIGNATURE_V1_SIZE
}
