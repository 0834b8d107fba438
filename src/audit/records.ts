import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { CredentialLineage, DecodedStatement, LinkRole } from '../verify/index.ts'

/**
 * Per-identity records of an audit, as JSON Lines and CSV (one file pair
 * per identity under `records/`). Appends are buffered per batch and
 * fsynced before the state that counts them is saved, and a resumed run
 * first cuts each file back to the length that state recorded, so a record
 * is never lost or written twice.
 */

/** One audited action. */
export interface AuditRecord {
  index: number
  leafHash: string
  /** The actor's clock, ms since the epoch, and as RFC 3339. */
  time: number
  timeIso: string
  actor: string
  action: string
  target: string
  tool: string
  params: string
  policy: DecodedStatement['policy']
  delegation: DecodedStatement['delegation']
  approval?: DecodedStatement['approval']
  /** SHA-256 of the instruction (prompt, trigger, ticket) behind the action, hex, when the statement has one. */
  instruction?: string
  /** The trusted issuer at the root of the actor's chain, and its organisation. */
  issuer: string
  org: string
  /**
   * The credential lineage from the actor up: each link's role, subject and
   * key (hex). A revocation names one (subject, key) pair; this is what
   * tells which records it touches.
   */
  lineage: { role: LinkRole; subject: string; key: string }[]
}

/** Returns the record of a verified statement. */
export function toRecord(index: number, leafHash: string, s: DecodedStatement, lineage: CredentialLineage): AuditRecord {
  const r: AuditRecord = {
    index,
    leafHash,
    time: s.time,
    timeIso: new Date(s.time).toISOString(),
    actor: s.actor,
    action: s.action,
    target: s.target,
    tool: s.tool,
    params: s.params,
    policy: s.policy,
    delegation: s.delegation,
    issuer: lineage.issuer,
    org: lineage.org,
    lineage: lineage.links.map((l) => ({ role: l.role, subject: l.subject, key: l.subjectKey })),
  }
  if (s.approval !== undefined) r.approval = s.approval
  if (s.instruction !== undefined) r.instruction = s.instruction
  return r
}

export const CSV_HEADER = 'index,leaf_hash,time,actor,action,target,tool,policy_id,policy_version,decision,delegation,approval,issuer,org,instruction\n'

/**
 * Returns one CSV field (RFC 4180 quoting). A field starting with = + - @
 * or a tab is prefixed with a quote mark, so a spreadsheet opening the file
 * never runs a logged value as a formula.
 */
export function csvField(v: string): string {
  // Most fields need neither treatment: one test, and the string itself.
  if (!CSV_SPECIAL.test(v)) return v
  let s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v
  if (/[",\n\r]/.test(s)) s = `"${s.replace(/"/g, '""')}"`
  return s
}
const CSV_SPECIAL = /^[=+\-@\t\r]|[",\n\r]/

export function csvLine(r: AuditRecord): string {
  let delegation = ''
  for (let i = 0; i < r.delegation.length; i++) delegation += `${i > 0 ? ' > ' : ''}${r.delegation[i]!.principal} (${r.delegation[i]!.scope})`
  const approval = r.approval === undefined ? '' : `${r.approval.by} (${r.approval.ref})`
  const p = r.policy
  return (
    `${r.index},${csvField(r.leafHash)},${csvField(r.timeIso)},${csvField(r.actor)},${csvField(r.action)},${csvField(r.target)},${csvField(r.tool)},` +
    `${csvField(p.id)},${csvField(p.version)},${csvField(p.decision)},${csvField(delegation)},${csvField(approval)},${csvField(r.issuer)},${csvField(r.org)},${r.instruction ?? ''}\n`
  )
}

/** Returns the file name stem of an identity: its URI-encoding, which any file system accepts. */
export function fileStem(identity: string): string {
  return encodeURIComponent(identity).replace(/\*/g, '%2A').replace(/^\./, '%2E').slice(0, 200)
}

export class RecordFiles {
  readonly #dir: string
  readonly #lengths: Record<string, number>
  #pending = new Map<string, { text: string[]; bytes: Buffer[] }>()
  #writing: Promise<unknown> = Promise.resolve()

  /** Opens the record files of `dir`, cut back to `lengths` (the state's view of them). */
  constructor(stateDir: string, lengths: Record<string, number>) {
    this.#dir = join(stateDir, 'records')
    mkdirSync(this.#dir, { recursive: true })
    this.#lengths = { ...lengths }
    for (const [name, len] of Object.entries(this.#lengths)) {
      const file = join(this.#dir, name)
      let size = 0
      try {
        size = statSync(file).size
      } catch {
        throw new Error(`record file ${file} is missing; the audit state expects ${len} bytes in it`)
      }
      if (size < len) throw new Error(`record file ${file} is shorter than the audit state says (${size} < ${len})`)
      if (size > len) {
        const fd = openSync(file, 'r+')
        try {
          ftruncateSync(fd, len)
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
      }
    }
  }

  // An audit writes many records per identity; the stem is worked out once.
  #stems = new Map<string, string>()

  /** Queues a record for its identity's files. */
  add(identity: string, r: AuditRecord): void {
    let stem = this.#stems.get(identity)
    if (stem === undefined) {
      stem = fileStem(identity)
      if (this.#stems.size >= 10_000) this.#stems.clear()
      this.#stems.set(identity, stem)
    }
    this.#queue(`${stem}.jsonl`, JSON.stringify(r) + '\n', '')
    this.#queue(`${stem}.csv`, csvLine(r), CSV_HEADER)
  }

  #queue(name: string, text: string, header: string): void {
    let q = this.#pending.get(name)
    if (q === undefined) {
      q = { text: this.#lengths[name] === undefined && header !== '' ? [header] : [], bytes: [] }
      this.#pending.set(name, q)
    }
    q.text.push(text)
  }

  /**
   * Encodes the records queued since the last call. The auditor calls it
   * after each bundle: records then wait for their flush as a few buffers
   * outside V8's heap, instead of thousands of strings that every young
   * collection in between would copy.
   */
  seal(): void {
    for (const q of this.#pending.values()) {
      if (q.text.length === 0) continue
      q.bytes.push(Buffer.from(q.text.join(''), 'utf8'))
      q.text = []
    }
  }

  /**
   * Appends what is queued now to the files (later records go to the next
   * flush), on the thread pool, fsyncs them, and resolves with every file's
   * length (to be saved in the state) once all of it is durable. Flushes run one after another,
   * in the order they were asked for.
   */
  flushAsync(): Promise<Record<string, number>> {
    this.seal()
    const batch = this.#pending
    this.#pending = new Map()
    const done = this.#writing.then(async () => {
      await Promise.all(
        [...batch].map(async ([name, { bytes }]) => {
          let length = 0
          for (const b of bytes) length += b.length
          const fh = await open(join(this.#dir, name), 'a', 0o644)
          try {
            const { bytesWritten } = await fh.writev(bytes)
            if (bytesWritten !== length) throw new Error(`wrote ${bytesWritten} of ${length} bytes to ${join(this.#dir, name)}`)
            await fh.sync()
          } finally {
            await fh.close()
          }
          this.#lengths[name] = (this.#lengths[name] ?? 0) + length
        }),
      )
      return { ...this.#lengths }
    })
    this.#writing = done.catch(() => {})
    return done
  }
}
