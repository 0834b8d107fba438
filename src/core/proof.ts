import { base64Length, fromAscii, fromBase64, fromUtf8, parseDecimal, utf8, utf8Length, writeBase64 } from './bytes.ts'
import { TlogError } from './errors.ts'
import { HASH_SIZE, TLOG_PROOF_HEADER } from './hash.ts'
import { MAX_NOTE_SIZE } from './note.ts'

/**
 * c2sp.org/tlog-proof (`.tlog-proof` files): an entry's index, its inclusion
 * proof and the (cosigned) checkpoint it is proved against, plus opaque
 * `extra` data. In actlog, `extra` is the entry itself (the COSE_Sign1
 * statement), so one file carries everything an offline verifier needs.
 * `extra` is not authenticated by the format: verifiers hash it and check
 * the inclusion proof, which is what authenticates it.
 */

/** Largest proof file accepted. */
export const MAX_TLOG_PROOF_SIZE = MAX_NOTE_SIZE + 128 * 1024
/** Most inclusion proof hashes (a tree of up to 2^63 leaves). */
export const MAX_INCLUSION_PROOF_LINES = 63

/** A parsed tlog-proof. */
export interface TlogProof {
  /** Opaque extra data (in actlog: the entry bytes); absent when the file has no extra line. */
  extra?: Uint8Array
  index: number
  proof: Uint8Array[]
  /** The checkpoint note, verbatim, with its signatures and cosignatures. */
  checkpoint: string
}

/** Returns the text of a tlog-proof. */
export function encodeTlogProof(p: TlogProof): string {
  return tlogProofText(encodeTlogProofHead(p), p.checkpoint)
}

/** Returns the text of a tlog-proof from its head (encodeTlogProofHead, newlines not escaped) and its checkpoint. */
export function tlogProofText(head: Uint8Array, checkpoint: string): string {
  return fromAscii(head) + checkpoint
}

/**
 * Returns what a tlog-proof holds before its checkpoint (header, extra,
 * index, hashes and the empty line), which is ASCII, as bytes: the log
 * writes one into every reply, and copies these bytes rather than build
 * the text.
 */
export function encodeTlogProofHead(p: Omit<TlogProof, 'checkpoint'>): Uint8Array {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw new RangeError('index must be a safe non-negative integer')
  if (p.proof.length > MAX_INCLUSION_PROOF_LINES) throw new RangeError('too many proof hashes')
  for (const h of p.proof) if (h.length !== HASH_SIZE) throw new RangeError('proof hashes are 32 bytes')
  const extra = p.extra !== undefined && p.extra.length > 0 ? p.extra : undefined
  const index = `index ${p.index}`
  const size = HEADER_LINE.length + (extra === undefined ? 0 : EXTRA_PREFIX.length + base64Length(extra.length) + 1) + index.length + 1 + p.proof.length * (base64Length(HASH_SIZE) + 1) + 1
  const out = new Uint8Array(size)
  out.set(HEADER_LINE, 0)
  let o = HEADER_LINE.length
  if (extra !== undefined) {
    out.set(EXTRA_PREFIX, o)
    o = writeBase64(extra, out, o + EXTRA_PREFIX.length)
    out[o++] = NEWLINE
  }
  for (let i = 0; i < index.length; i++) out[o++] = index.charCodeAt(i)
  out[o++] = NEWLINE
  for (const h of p.proof) {
    o = writeBase64(h, out, o)
    out[o++] = NEWLINE
  }
  out[o] = NEWLINE
  return out
}

const NEWLINE = 0x0a
const HEADER_LINE = utf8(`${TLOG_PROOF_HEADER}\n`)
const EXTRA_PREFIX = utf8('extra ')

/**
 * Returns the proof in a tlog-proof file. Strict: the exact header line, an
 * optional `extra <non-empty canonical base64>` line, `index <canonical
 * decimal>`, at most 63 base64 32-byte hashes, an empty line, and a
 * non-empty checkpoint (verified by the caller). Throws MALFORMED or
 * TOO_LARGE.
 */
export function parseTlogProof(input: Uint8Array | string): TlogProof {
  const size = typeof input === 'string' ? utf8Length(input, MAX_TLOG_PROOF_SIZE) : input.length
  if (size > MAX_TLOG_PROOF_SIZE) throw new TlogError('TOO_LARGE', 'tlog-proof is too large')
  const s = typeof input === 'string' ? input : fromUtf8(input)
  let pos = 0
  const nextLine = (): string => {
    const end = s.indexOf('\n', pos)
    if (end < 0) throw new TlogError('MALFORMED', 'tlog-proof ends before its checkpoint')
    const line = s.slice(pos, end)
    pos = end + 1
    return line
  }
  if (nextLine() !== TLOG_PROOF_HEADER) throw new TlogError('MALFORMED', `tlog-proof must start with ${TLOG_PROOF_HEADER}`)
  let line = nextLine()
  let extra: Uint8Array | undefined
  if (line.startsWith('extra ')) {
    extra = fromBase64(line.slice(6))
    if (extra.length === 0) throw new TlogError('MALFORMED', 'tlog-proof extra line is empty')
    line = nextLine()
  }
  if (!line.startsWith('index ')) throw new TlogError('MALFORMED', 'tlog-proof needs an "index <n>" line')
  const index = parseDecimal(line.slice(6), 'tlog-proof index')
  const proof: Uint8Array[] = []
  for (;;) {
    line = nextLine()
    if (line.length === 0) break
    if (proof.length === MAX_INCLUSION_PROOF_LINES) throw new TlogError('MALFORMED', 'tlog-proof has more than 63 proof hashes')
    const h = fromBase64(line)
    if (h.length !== HASH_SIZE) throw new TlogError('MALFORMED', 'a tlog-proof proof line is not a 32-byte hash')
    proof.push(h)
  }
  const checkpoint = s.slice(pos)
  if (checkpoint.length === 0) throw new TlogError('MALFORMED', 'tlog-proof has no checkpoint')
  const out: TlogProof = { index, proof, checkpoint }
  if (extra !== undefined) out.extra = extra
  return out
}
