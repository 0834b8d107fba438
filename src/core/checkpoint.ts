import { fromBase64, parseDecimal, toBase64 } from './bytes.ts'
import { TlogError } from './errors.ts'
import { HASH_SIZE } from './hash.ts'
import { checkNoteText } from './note.ts'

/**
 * c2sp.org/tlog-checkpoint: the note text of a signed tree head.
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n]...
 */

/** A checkpoint body. */
export interface Checkpoint {
  origin: string
  treeSize: number
  rootHash: Uint8Array
  /** Opaque, non-empty extension lines, in order (NOT RECOMMENDED by the spec; actlog writes none). */
  extensions: string[]
}

/** Most extension lines accepted. */
export const MAX_CHECKPOINT_EXTENSIONS = 16

/** Returns the note text of a checkpoint. Throws RangeError on fields that cannot be encoded. */
export function encodeCheckpoint(c: Checkpoint): string {
  if (typeof c.origin !== 'string' || c.origin.length === 0 || c.origin.includes('\n')) throw new RangeError('origin must be one non-empty line')
  if (!Number.isSafeInteger(c.treeSize) || c.treeSize < 0) throw new RangeError('treeSize must be a safe non-negative integer')
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== HASH_SIZE) throw new RangeError('rootHash must be 32 bytes')
  for (const e of c.extensions) if (e.length === 0 || e.includes('\n')) throw new RangeError('extension lines are non-empty lines')
  const text = [c.origin, String(c.treeSize), toBase64(c.rootHash), ...c.extensions].join('\n') + '\n'
  checkNoteText(text)
  return text
}

/**
 * Returns the checkpoint in a note text. Strict: at least three non-empty
 * lines, a canonical decimal size, a canonical base64 32-byte root, and
 * non-empty extension lines. Throws MALFORMED.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new TlogError('MALFORMED', 'checkpoint text must end in a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw new TlogError('MALFORMED', 'checkpoint needs origin, size and root lines')
  if (lines.length > 3 + MAX_CHECKPOINT_EXTENSIONS) throw new TlogError('MALFORMED', 'checkpoint has too many extension lines')
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]]
  if (origin.length === 0) throw new TlogError('MALFORMED', 'checkpoint origin is empty')
  const treeSize = parseDecimal(size, 'checkpoint tree size')
  const rootHash = fromBase64(root)
  if (rootHash.length !== HASH_SIZE) throw new TlogError('MALFORMED', 'checkpoint root hash is not 32 bytes')
  if (extensions.some((e) => e.length === 0)) throw new TlogError('MALFORMED', 'checkpoint extension lines must be non-empty')
  checkNoteText(text)
  return { origin, treeSize, rootHash, extensions }
}
