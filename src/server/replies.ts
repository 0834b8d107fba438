/**
 * The log's replies to submissions (POST /add, POST /add-batch), JSON and
 * CBOR: the one place they are written. JSON replies are written as bytes:
 * the same bytes as UTF-8 of JSON.stringify, without building each ~3 KB
 * proof text, escaping it and encoding the result for every statement of
 * every batch.
 */
import { encodeCbor, tlogProofText, type CborMap } from '../core/index.ts'
import type { Added, Refused } from './admission.ts'

const encoder = new TextEncoder()
const OPEN = encoder.encode('{"index":')
const LEAF = encoder.encode(',"leafHash":"')
const CHECKPOINT = encoder.encode('","checkpoint":')
const PROOF = encoder.encode(',"proof":"')
const HEX = encoder.encode('0123456789abcdef')
const NEWLINE = 0x0a

// The checkpoint is the same for a whole batch and appears twice in each
// reply (alone and ending the proof): it is escaped once per checkpoint.
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
 * where the proof is `head` (encodeTlogProofHead: ASCII, whose only
 * character JSON escapes is the newline) followed by the checkpoint.
 */
export function addedJsonBytes(index: number, leafHash: Uint8Array, checkpoint: string, head: Uint8Array): Uint8Array<ArrayBuffer> {
  escapeCheckpoint(checkpoint)
  const cp = lastJson
  const tail = lastTail
  const digits = String(index)
  let newlines = 0
  for (let i = head.indexOf(NEWLINE); i >= 0; i = head.indexOf(NEWLINE, i + 1)) newlines++
  // The proof's JSON is the escaped head followed by the checkpoint's JSON
  // without its opening quote.
  const size = OPEN.length + digits.length + LEAF.length + 2 * leafHash.length + CHECKPOINT.length + cp.length + PROOF.length + head.length + newlines + tail.length + 1
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
  for (let i = head.indexOf(NEWLINE); i >= 0; i = head.indexOf(NEWLINE, i + 1)) {
    out.set(head.subarray(from, i), o)
    o += i - from
    out[o++] = 0x5c
    out[o++] = 0x6e
    from = i + 1
  }
  out.set(head.subarray(from), o)
  o += head.length - from
  out.set(tail, o)
  o += tail.length
  out[o] = 0x7d
  return out
}

/** Returns the JSON reply of a sequenced statement, as bytes. */
export function addedJson(a: Added): Uint8Array<ArrayBuffer> {
  return addedJsonBytes(a.index, a.leafHash, a.checkpoint, a.proofHead)
}

/** Returns the CBOR reply of a sequenced statement: a map with the JSON reply's keys. */
export function addedCbor(a: Added): Uint8Array<ArrayBuffer> {
  return copy(encodeCbor(addedCborMap(a)))
}

function addedCborMap(a: Added): CborMap {
  return new Map<string, number | string | Uint8Array>([
    ['index', a.index],
    ['leafHash', a.leafHash],
    ['checkpoint', a.checkpoint],
    ['proof', tlogProofText(a.proofHead, a.checkpoint)],
  ])
}

/** Returns the JSON of one refused statement of a batch, `{code, message}`, as bytes. */
export function refusedJson(r: Refused): Uint8Array<ArrayBuffer> {
  return encoder.encode(JSON.stringify({ code: r.code, message: r.message }))
}

/** Returns one result of a batch as the bytes of its JSON: how a JSON batch reply holds each result as soon as it is known. */
export function batchItemJson(r: Added | Refused): Uint8Array<ArrayBuffer> {
  return 'code' in r ? refusedJson(r) : addedJson(r)
}

/** Returns the JSON reply of a batch, `{"results":[...]}`, from each result's JSON (batchItemJson). */
export function batchJson(items: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  return jsonArray('{"results":[', items, ']}')
}

/** Returns the CBOR reply of a batch: an array of result maps (addedCbor's, or `{code, message}`). */
export function batchCbor(results: readonly (Added | Refused)[]): Uint8Array<ArrayBuffer> {
  return copy(encodeCbor(results.map((r) => ('code' in r ? new Map<string, string>([['code', r.code], ['message', r.message]]) : addedCborMap(r)))))
}

/** Returns `open`, the items separated by commas, and `close`, as one byte array: the JSON.stringify of the array. */
function jsonArray(open: string, items: readonly Uint8Array[], close: string): Uint8Array<ArrayBuffer> {
  let size = open.length + close.length + Math.max(0, items.length - 1)
  for (const it of items) size += it.length
  const out = new Uint8Array(size)
  let o = encoder.encodeInto(open, out).written
  items.forEach((it, i) => {
    if (i > 0) out[o++] = 0x2c
    out.set(it, o)
    o += it.length
  })
  encoder.encodeInto(close, out.subarray(o))
  return out
}

/** Returns `d` in a buffer of its own (what Hono's body type asks for). */
export function copy(d: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(d.length)
  out.set(d)
  return out
}
