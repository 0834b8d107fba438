/**
 * The JSON reply for a sequenced statement, written as bytes: the same
 * bytes as UTF-8 of JSON.stringify({ index, leafHash, checkpoint, proof }),
 * without building the ~3 KB proof text, escaping it and encoding the
 * result for every statement of every batch. The checkpoint, which is the
 * same for a whole batch and appears twice in each reply (alone and ending
 * the proof), is escaped once.
 */

const encoder = new TextEncoder()
const OPEN = encoder.encode('{"index":')
const LEAF = encoder.encode(',"leafHash":"')
const CHECKPOINT = encoder.encode('","checkpoint":')
const PROOF = encoder.encode(',"proof":"')
const HEX = encoder.encode('0123456789abcdef')

let lastCheckpoint: string | undefined
let lastJson = new Uint8Array(0)
let lastTail = new Uint8Array(0)

/** Sets lastJson to UTF-8 of JSON.stringify(checkpoint), quotes included, and lastTail to it without the opening quote. */
function escapeCheckpoint(checkpoint: string): void {
  if (checkpoint === lastCheckpoint) return
  lastJson = encoder.encode(JSON.stringify(checkpoint))
  lastTail = lastJson.subarray(1)
  lastCheckpoint = checkpoint
}

/**
 * Returns UTF-8 of JSON.stringify({ index, leafHash: hex, checkpoint, proof })
 * where the proof is a head from encodeTlogProofHead followed by the
 * checkpoint; `jsonHead` is that head as encodeTlogProofHead writes it for
 * JSON (newlines escaped), which is then its JSON string content.
 */
export function addedJsonBytes(index: number, leafHash: Uint8Array, checkpoint: string, jsonHead: Uint8Array): Uint8Array<ArrayBuffer> {
  escapeCheckpoint(checkpoint)
  const cp = lastJson
  const tail = lastTail
  const digits = String(index)
  // The proof's JSON is the escaped head followed by the checkpoint's JSON
  // without its opening quote.
  const size = OPEN.length + digits.length + LEAF.length + 2 * leafHash.length + CHECKPOINT.length + cp.length + PROOF.length + jsonHead.length + tail.length + 1
  const out = new Uint8Array(size)
  out.set(OPEN, 0)
  let o = OPEN.length
  for (let i = 0; i < digits.length; i++) out[o++] = digits.charCodeAt(i)
  out.set(LEAF, o)
  o += LEAF.length
  for (const b of leafHash) {
    out[o++] = HEX[b >> 4]!
    out[o++] = HEX[b & 15]!
  }
  out.set(CHECKPOINT, o)
  o += CHECKPOINT.length
  out.set(cp, o)
  o += cp.length
  out.set(PROOF, o)
  o += PROOF.length
  out.set(jsonHead, o)
  o += jsonHead.length
  out.set(tail, o)
  o += tail.length
  out[o] = 0x7d
  return out
}
