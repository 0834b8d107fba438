import { fromBase64, fromUtf8, parseDecimal, toBase64, utf8, utf8Length } from './bytes.ts'
import { TlogError } from './errors.ts'
import { HASH_SIZE } from './hash.ts'
import { encodeSignatureLine, MAX_NOTE_SIGNATURES, MAX_NOTE_SIZE, parseSignatureLine, type NoteSignature } from './note.ts'

/**
 * c2sp.org/tlog-witness `add-checkpoint` bodies: the request (old size,
 * consistency proof, checkpoint), the success response (signature lines) and
 * the 409 body (`text/x.tlog.size`). Shared by the log's witnessing client
 * and the witness server; nothing else is shared between them.
 */

/** Most consistency proof lines a request may carry (tlog-witness). */
export const MAX_WITNESS_PROOF_LINES = 63
/** Largest add-checkpoint request body accepted: a maximal note plus the proof. */
export const MAX_ADD_CHECKPOINT_BODY = MAX_NOTE_SIZE + 8 * 1024
/** Content type of the 409 response body. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size'

/** An add-checkpoint request. */
export interface AddCheckpointRequest {
  oldSize: number
  proof: Uint8Array[]
  /** The signed checkpoint note, verbatim. */
  checkpoint: string
}

/** Returns the request body text. */
export function encodeAddCheckpointRequest(req: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(req.oldSize) || req.oldSize < 0) throw new RangeError('oldSize must be a safe non-negative integer')
  if (req.proof.length > MAX_WITNESS_PROOF_LINES) throw new RangeError('at most 63 proof lines')
  const lines = [`old ${req.oldSize}`, ...req.proof.map((h) => toBase64(h))]
  return `${lines.join('\n')}\n\n${req.checkpoint}`
}

/**
 * Returns the request in an add-checkpoint body. Strict: `old <canonical
 * decimal>`, at most 63 lines of base64 32-byte hashes, an empty line, and
 * a non-empty checkpoint (parsed by the caller as a note). Throws MALFORMED
 * or TOO_LARGE.
 */
export function parseAddCheckpointRequest(body: Uint8Array | string): AddCheckpointRequest {
  const size = typeof body === 'string' ? utf8Length(body, MAX_ADD_CHECKPOINT_BODY) : body.length
  if (size > MAX_ADD_CHECKPOINT_BODY) throw new TlogError('TOO_LARGE', 'add-checkpoint body is too large')
  const s = typeof body === 'string' ? body : fromUtf8(body)
  let pos = s.indexOf('\n')
  if (pos < 0) throw new TlogError('MALFORMED', 'add-checkpoint body has no old size line')
  const first = s.slice(0, pos)
  if (!first.startsWith('old ')) throw new TlogError('MALFORMED', 'first line must be "old <size>"')
  const oldSize = parseDecimal(first.slice(4), 'old size')
  const proof: Uint8Array[] = []
  for (;;) {
    const start = pos + 1
    const end = s.indexOf('\n', start)
    if (end < 0) throw new TlogError('MALFORMED', 'add-checkpoint body has no empty line before the checkpoint')
    const line = s.slice(start, end)
    pos = end
    if (line.length === 0) break
    if (proof.length === MAX_WITNESS_PROOF_LINES) throw new TlogError('MALFORMED', 'more than 63 consistency proof lines')
    const h = fromBase64(line)
    if (h.length !== HASH_SIZE) throw new TlogError('MALFORMED', 'a consistency proof line is not a 32-byte hash')
    proof.push(h)
  }
  const checkpoint = s.slice(pos + 1)
  if (checkpoint.length === 0) throw new TlogError('MALFORMED', 'add-checkpoint body has no checkpoint')
  return { oldSize, proof, checkpoint }
}

/** Returns the 200 response body: one signature line per cosignature, each ending in a newline. */
export function encodeCosignatureResponse(signatures: readonly NoteSignature[]): string {
  if (signatures.length === 0) throw new RangeError('a response carries at least one signature')
  return signatures.map((s) => encodeSignatureLine(s) + '\n').join('')
}

/** Returns the signatures of a 200 response body. Strict; throws MALFORMED. */
export function parseCosignatureResponse(body: string): NoteSignature[] {
  if (body.length > 64 * 1024) throw new TlogError('TOO_LARGE', 'cosignature response is too large')
  if (!body.endsWith('\n')) throw new TlogError('MALFORMED', 'cosignature response must end in a newline')
  const lines = body.slice(0, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw new TlogError('MALFORMED', 'too many signature lines')
  return lines.map(parseSignatureLine)
}

/** Returns the `text/x.tlog.size` body for a tree size. */
export function encodeSizeBody(size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('size must be a safe non-negative integer')
  return `${size}\n`
}

/** Returns the size in a `text/x.tlog.size` body. Throws MALFORMED. */
export function parseSizeBody(body: string): number {
  if (!body.endsWith('\n') || body.length > 24) throw new TlogError('MALFORMED', 'size body must be a decimal and a newline')
  return parseDecimal(body.slice(0, -1), 'size')
}
