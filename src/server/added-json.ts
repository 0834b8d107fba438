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
let lastCheckpointJson = new Uint8Array(0)

/** Returns UTF-8 of JSON.stringify(checkpoint), quotes included; the last one is kept. */
function checkpointJson(checkpoint: string): Uint8Array {
  if (checkpoint !== lastCheckpoint) {
    lastCheckpointJson = encoder.encode(JSON.stringify(checkpoint))
    lastCheckpoint = checkpoint
  }
  return lastCheckpointJson
}

/**
 * Returns UTF-8 of JSON.stringify({ index, leafHash: hex, checkpoint, proof:
 * head + checkpoint }) for a proof head from encodeTlogProofHead: ASCII
 * whose only character JSON escapes is the newline (its header, `extra`
 * and `index` lines and hashes are base64, digits and fixed text).
 */
export function addedJsonBytes(index: number, leafHash: Uint8Array, checkpoint: string, proofHead: Uint8Array): Uint8Array<ArrayBuffer> {
  const cp = checkpointJson(checkpoint)
  let newlines = 0
  for (let i = proofHead.indexOf(0x0a); i >= 0; i = proofHead.indexOf(0x0a, i + 1)) newlines++
  const digits = String(index)
  // The proof string is the head and then the checkpoint, so its JSON is the
  // escaped head followed by the checkpoint's JSON without its opening quote.
  const size = OPEN.length + digits.length + LEAF.length + 2 * leafHash.length + CHECKPOINT.length + cp.length + PROOF.length + proofHead.length + newlines + cp.length - 1 + 1
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
  let from = 0
  for (let i = proofHead.indexOf(0x0a); i >= 0; i = proofHead.indexOf(0x0a, from)) {
    out.set(proofHead.subarray(from, i), o)
    o += i - from
    out[o++] = 0x5c
    out[o++] = 0x6e
    from = i + 1
  }
  out.set(proofHead.subarray(from), o)
  o += proofHead.length - from
  out.set(cp.subarray(1), o)
  o += cp.length - 1
  out[o++] = 0x7d
  return out
}
