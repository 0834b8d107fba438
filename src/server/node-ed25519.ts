import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { PlatformEd25519 } from '../core/index.ts'

/**
 * Ed25519 verification on Node's crypto.verify (OpenSSL, on the thread
 * pool). Core's sig.ts runs the Ed25519 rule's encoding checks before
 * calling it, exactly as for WebCrypto, which uses the same OpenSSL; the
 * difference is the main-thread cost per call (about 4 µs here, against
 * 35-45 µs for crypto.subtle.verify), which is what bounds the log's rate.
 */

// DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410 §4).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map<string, KeyObject>()

function keyOf(pub: Uint8Array): KeyObject {
  const id = Buffer.from(pub).toString('base64')
  let k = keys.get(id)
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
    if (keys.size >= 4096) keys.delete(keys.keys().next().value!)
    keys.set(id, k)
  }
  return k
}

/** The verifier to install with core's usePlatformEd25519 in Node processes. */
export const nodeEd25519: PlatformEd25519 = {
  name: 'node:crypto',
  verify(publicKey, message, signature) {
    return new Promise((resolve) => {
      let key: KeyObject
      try {
        key = keyOf(publicKey)
      } catch {
        resolve(false)
        return
      }
      verify(null, message, key, signature, (err, ok) => resolve(err === null && ok))
    })
  },
}
