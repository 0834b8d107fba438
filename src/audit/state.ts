import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { mkdir, open, rename } from 'node:fs/promises'
import { join } from 'node:path'
import type { RevocationRecord } from '../core/index.ts'

/**
 * The auditor's state directory: what it has verified so far, so that a
 * later run resumes where this one stopped and checks the log's new
 * checkpoint against the last one it trusted.
 *
 * state.json is replaced atomically (write, fsync, rename, fsync the
 * directory): after a crash it is the old state or the new, never a mix.
 */

/** The persistent state of an audit. */
export interface AuditState {
  version: 1
  /** The log URL and origin this state belongs to. */
  log: string
  origin: string
  /** The last checkpoint verified against the policy and consistent with every earlier one. */
  trusted?: { treeSize: number; rootHash: string; note: string }
  /** Entries processed, and the right edge of the tree they hash to (base64, largest subtree first). */
  processed: { treeSize: number; edge: string[] }
  /** Byte length of each record file as of this state: later bytes are from an interrupted run. */
  files: Record<string, number>
  /** Records written per identity. */
  counts: Record<string, number>
  /** Entries whose credential chain ends at an issuer the auditor does not trust (another organisation). */
  otherIssuers: number
  /** Options the state was built with: a resumed run must use the same filters. */
  filter: { actor?: string; org?: string; since?: number }
  /**
   * Revocations that took effect in the processed entries, in log order
   * (RevocationState.toJSON): what `actlog verify --revocations` reads,
   * complete to `processed.treeSize`.
   */
  revocations?: RevocationRecord[]
  /**
   * For each revocation naming a `since` (by its index), the indices of the
   * recorded entries before it whose chain holds the revoked pair and whose
   * time is at or after `since`: valid, but suspect.
   */
  suspects?: Record<string, number[]>
}

const FILE = 'state.json'

/** Returns the state in `dir`, or undefined when there is none. Throws naming the file when it is unreadable. */
export function loadState(dir: string): AuditState | undefined {
  const file = join(dir, FILE)
  if (!existsSync(file)) return undefined
  let s: AuditState
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as AuditState
  } catch (e) {
    throw new Error(`${file} is not a readable audit state (${(e as Error).message}); move it away to start the audit over`)
  }
  if (s.version !== 1) throw new Error(`${file} has an unknown version ${String(s.version)}`)
  return s
}

/** Writes `text` to `file` atomically and durably. */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  // The rename is durable only once the directory entry is.
  const dfd = openSync(join(file, '..'), 'r')
  try {
    fsyncSync(dfd)
  } finally {
    closeSync(dfd)
  }
}

/** writeAtomic on the thread pool, for callers that keep working meanwhile. */
export async function writeAtomicAsync(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
  const dir = await open(join(file, '..'), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** Saves the state in `dir`, on the thread pool. */
export async function saveStateAsync(dir: string, s: AuditState): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeAtomicAsync(join(dir, FILE), JSON.stringify(s, null, 1) + '\n')
}
