import { hash } from 'node:crypto'
import type { Sha256Function } from '../core/index.ts'

/**
 * SHA-256 on node:crypto's one-shot hash, to install with core's useSha256
 * in Node processes: the log hashes every entry and the nodes of every
 * proof it serves, and OpenSSL does a 700-byte entry in about a quarter of
 * the time of the pure-JS implementation.
 */
let scratch = new Uint8Array(4096)

export const nodeSha256: Sha256Function = (parts) => {
  let data: Uint8Array
  if (parts.length === 1) data = parts[0]!
  else {
    let n = 0
    for (const p of parts) n += p.length
    // Parts are joined in one reused buffer (hashing is synchronous): a
    // fresh one per call was an off-heap allocation for every leaf (0x00 ‖
    // entry) and every node (65 bytes, one over V8's in-heap limit).
    // Inputs beyond 64 KiB (none in the log's formats) get their own.
    const buf = n <= 65536 ? (scratch.length >= n ? scratch : (scratch = new Uint8Array(Math.max(n, 2 * scratch.length)))) : new Uint8Array(n)
    let o = 0
    for (const p of parts) {
      buf.set(p, o)
      o += p.length
    }
    data = buf.subarray(0, n)
  }
  const b = hash('sha256', data, 'buffer') as unknown as Buffer
  // Copied into a 32-byte Uint8Array, which V8 keeps inside its own heap:
  // the digest's Buffer has a native backing store that V8 counts as 32
  // bytes but that costs a few hundred in malloc, so keeping it (tile
  // expansions and range caches hold tens of thousands of hashes) made the
  // process's memory grow far beyond what the collector saw.
  const out = new Uint8Array(32)
  out.set(b)
  return out
}
