import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { utf8 } from './bytes.ts'

/**
 * Hashing and every domain-separation constant of actlog, kept together so
 * a reviewer sees at once which byte strings separate which contexts.
 */

/** Length in bytes of a SHA-256 hash, and so of every Merkle tree hash. */
export const HASH_SIZE = 32

/** RFC 6962 §2.1: prefix of a leaf hash input. */
export const LEAF_PREFIX = new Uint8Array([0x00])
/** RFC 6962 §2.1: prefix of an interior node hash input. */
export const NODE_PREFIX = new Uint8Array([0x01])

/** c2sp.org/signed-note: signature type of Ed25519 note signatures. */
export const SIG_TYPE_ED25519 = 0x01
/** c2sp.org/tlog-cosignature: signature type of timestamped Ed25519 cosignatures. */
export const SIG_TYPE_COSIGNATURE_V1 = 0x04
/** c2sp.org/tlog-cosignature: signature type of ML-DSA-44 cosignatures (recognised, not verified). */
export const SIG_TYPE_MLDSA44 = 0x06

/** c2sp.org/tlog-cosignature: first line of the Ed25519 cosigned message. */
export const COSIGNATURE_V1_HEADER = 'cosignature/v1\n'
/** RFC 9052 §4.4: context string of a COSE_Sign1 Sig_structure. */
export const SIG_STRUCTURE_CONTEXT = 'Signature1'
/** First element of every credential array: the credential format version. */
export const CREDENTIAL_VERSION = 'actlog-credential/v1'
/** Content type (COSE header 3) of an action statement payload. */
export const STATEMENT_CONTENT_TYPE = 'application/vnd.actlog.action+cbor'
/** Content type (COSE header 3) of a revocation entry payload (DESIGN.md "Revocation entries"). */
export const REVOCATION_CONTENT_TYPE = 'application/vnd.actlog.revocation+cbor'
/** First line of a c2sp.org/tlog-proof file. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1'

/** A SHA-256 implementation: the digest of the concatenation of `parts`, as a plain Uint8Array. */
export type Sha256Function = (parts: readonly Uint8Array[]) => Uint8Array

function nobleParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return nobleSha256(parts[0]!)
  const h = nobleSha256.create()
  for (const p of parts) h.update(p)
  return h.digest()
}

let sha256Impl: Sha256Function = nobleParts

/**
 * Replaces the SHA-256 implementation (undefined restores @noble/hashes).
 * Core stays free of platform APIs; a Node process installs node:crypto's,
 * which hashes a log entry about four times faster. Tests hold both equal.
 */
export function useSha256(f: Sha256Function | undefined): void {
  sha256Impl = f ?? nobleParts
}

/** Returns the SHA-256 digest of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return sha256Impl([data])
}

/** Returns the SHA-256 digest of the concatenation of `parts`. */
export function sha256Parts(...parts: Uint8Array[]): Uint8Array {
  return sha256Impl(parts)
}

/** The root hash of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0))

/** Returns the RFC 6962 §2.1 hash of a leaf: SHA-256(0x00 || entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256Parts(LEAF_PREFIX, entry)
}

/** Returns the RFC 6962 §2.1 hash of an interior node. Inputs MUST be 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertHash(left, 'left')
  assertHash(right, 'right')
  return sha256Parts(NODE_PREFIX, left, right)
}

/** Throws RangeError unless `h` is a 32-byte hash: a caller bug, not bad input. */
export function assertHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new RangeError(`${what} must be a ${HASH_SIZE}-byte hash`)
  }
}

/** Returns the UTF-8 bytes of a constant, for hashing. */
export function constantBytes(s: string): Uint8Array {
  return utf8(s)
}
