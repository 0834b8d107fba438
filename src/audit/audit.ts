import {
  CompactRange,
  bytesEqual,
  chainOf,
  checkCredentialChain,
  checkRevocationAuthority,
  consistencyProof,
  createCredentialCache,
  fromBase64,
  isTlogError,
  leafHash,
  parseEntry,
  revocationRecord,
  RevocationState,
  sha256,
  sigStructure,
  toBase64,
  toHex,
  utf8,
  verifyBatch,
  verifyConsistency,
  type CredentialCache,
  type LogEntry,
  type Policy,
  type RevocationRecord,
  type TrustedIssuers,
} from '../core/index.ts'
import { decodeStatement, verifyCheckpoint, type CheckpointSummary } from '../verify/index.ts'
import { bundlesBetween, TileClient } from './http.ts'
import { RecordFiles, toRecord } from './records.ts'
import { loadState, saveStateAsync, writeAtomic, type AuditState } from './state.ts'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileStem, type AuditRecord } from './records.ts'

/**
 * The partner auditor: follows a log through its tiles, checks every new
 * checkpoint against the policy and for consistency with the last one it
 * trusted (and, optionally, with what each witness cosigned), recomputes the
 * tree from the entry bundles, checks every statement's signature and
 * credential chain, and writes per-identity records. Its answer: "every
 * action by identity X (or organisation Y) up to checkpoint N", with the
 * checkpoint as the proof that nothing was left out.
 *
 * On any inconsistency it stops and writes a report naming the evidence.
 */

/** Options of an audit run. */
export interface AuditOptions {
  /** The log's URL prefix (where /checkpoint and /tile/ are served). */
  log: string
  policy: Policy
  issuers: TrustedIssuers
  /** Where the state, the records and the reports go. */
  stateDir: string
  /** Record only this actor's actions. */
  actor?: string
  /** Record only actions whose chain ends at an issuer of this organisation. */
  org?: string
  /** Record only actions at or after this time (ms). Every entry is still checked. */
  since?: number
  /** Witness monitoring URL prefixes to compare with (c2sp.org/tlog-witness monitoring API). */
  witnesses?: string[]
  /** Stop after processing this many entries in this run (resume later). */
  maxEntries?: number
  /** Clock for cosignature checks, ms. */
  now?: () => number
  onProgress?: (p: AuditProgress) => void
  onWarning?: (message: string) => void
}

/** Progress of a run. */
export interface AuditProgress {
  /** Entries processed so far, over the whole audit. */
  processed: number
  /** The tree size this run works towards. */
  target: number
  /** Entries per second in this run. */
  rate: number
}

/** What went wrong, with the evidence a person (or a court) can check. */
export interface AuditProblem {
  kind: 'bad-checkpoint' | 'rollback' | 'split-view' | 'stale-view' | 'entry-mismatch' | 'root-mismatch' | 'bad-statement' | 'revoked-entry'
  message: string
  evidence: Record<string, unknown>
  /** The report file written to the state directory. */
  reportFile: string
}

/** The outcome of an audit run. */
export type AuditOutcome =
  | {
      ok: true
      /** True when every entry up to the checkpoint was processed. */
      complete: boolean
      checkpoint: CheckpointSummary & { note: string }
      processed: number
      processedThisRun: number
      counts: Record<string, number>
      otherIssuers: number
      /** Revocations that took effect in the entries processed, by revoked subject, each with its suspect entries. */
      revocations: Record<string, (RevocationRecord & { suspect: number[] })[]>
      reportFile?: string
    }
  | { ok: false; problem: AuditProblem }

class Stop extends Error {
  constructor(readonly problem: Omit<AuditProblem, 'reportFile'>) {
    super(problem.message)
  }
}

function stop(kind: AuditProblem['kind'], message: string, evidence: Record<string, unknown>): never {
  throw new Stop({ kind, message, evidence })
}

/** Runs one audit pass up to the log's current checkpoint (or `maxEntries`). */
export async function audit(o: AuditOptions): Promise<AuditOutcome> {
  try {
    return await run(o)
  } catch (e) {
    if (!(e instanceof Stop)) throw e
    const reportFile = join(o.stateDir, `problem-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    const problem: AuditProblem = { ...e.problem, reportFile }
    writeAtomic(reportFile, JSON.stringify({ log: o.log, ...problem }, null, 2) + '\n')
    return { ok: false, problem }
  }
}

async function run(o: AuditOptions): Promise<AuditOutcome> {
  const now = o.now ?? Date.now
  const client = new TileClient(o.log)
  const note = await client.checkpoint()
  const v = await verifyCheckpoint(note, { policy: o.policy, now: now() })
  if (!v.ok) stop('bad-checkpoint', `the log's checkpoint does not verify against the policy: ${v.reason}: ${v.message}`, { checkpoint: note })
  const cp = v.checkpoint
  const root = fromBase64(cp.rootHash)
  const filter: AuditState['filter'] = {}
  if (o.actor !== undefined) filter.actor = o.actor
  if (o.org !== undefined) filter.org = o.org
  if (o.since !== undefined) filter.since = o.since
  let state = loadState(o.stateDir)
  if (state === undefined) {
    state = { version: 1, log: o.log, origin: cp.origin, processed: { treeSize: 0, edge: [] }, files: {}, counts: {}, otherIssuers: 0, filter }
  } else {
    if (state.origin !== cp.origin) throw new Error(`the state in ${o.stateDir} is of the log ${state.origin}, but ${o.log} serves ${cp.origin}; use another --state directory`)
    if (JSON.stringify(state.filter) !== JSON.stringify(filter)) {
      throw new Error(`the state in ${o.stateDir} was built with --actor/--org/--since ${JSON.stringify(state.filter)}; resume with the same options or use another --state directory`)
    }
  }

  // The new checkpoint must extend the last one this auditor trusted.
  if (state.trusted !== undefined) {
    const t = state.trusted
    if (cp.treeSize < t.treeSize) {
      stop('rollback', `the log now shows a tree of ${cp.treeSize} entries, smaller than the ${t.treeSize} it showed before`, { trusted: t.note, current: note })
    }
    const proof = cp.treeSize === t.treeSize ? [] : await consistencyProof(t.treeSize, cp.treeSize, client.hashReader(cp.treeSize))
    if (!verifyConsistency(t.treeSize, cp.treeSize, proof, fromBase64(t.rootHash), root)) {
      stop('split-view', `the log's checkpoint of ${cp.treeSize} entries is not consistent with the checkpoint of ${t.treeSize} entries it showed before: two histories`, {
        trusted: t.note,
        current: note,
        consistencyProof: proof.map(toBase64),
      })
    }
  }
  for (const w of o.witnesses ?? []) await compareWitness(o, client, w, note, cp, root)
  state.trusted = { treeSize: cp.treeSize, rootHash: cp.rootHash, note }

  const start = state.processed.treeSize
  const target = o.maxEntries === undefined ? cp.treeSize : Math.min(cp.treeSize, start + o.maxEntries)
  const edge = CompactRange.fromHashes(start, state.processed.edge.map(fromBase64))
  const records = new RecordFiles(o.stateDir, state.files)
  const revocations = RevocationState.fromJSON(state.revocations ?? [])
  const credCache = createCredentialCache(10_000)
  const issuerNames = new Set(o.issuers.issuers.map((i) => i.name))
  const startedAt = performance.now()
  let lastSave = performance.now()
  const bundles = bundlesBetween(start, cp.treeSize).filter((b) => b.start < target)
  // Fetch a few bundles ahead: the network and the checks overlap.
  const fetches = bundles.map(() => undefined as Promise<[Uint8Array[], Uint8Array]> | undefined)
  const fetchAt = (i: number): Promise<[Uint8Array[], Uint8Array]> => {
    const b = bundles[i]!
    fetches[i] ??= Promise.all([client.bundle(b.index, b.width), client.tile({ level: 0, index: b.index, width: b.width })])
    return fetches[i]!
  }
  // A two-stage pipeline: while the signatures of one bundle are checked on
  // the thread pool, the next bundle is fetched, hashed and parsed.
  let pending: { prepared: Prepared; end: number; edge: string[]; bi: number } | undefined
  // Saving overlaps the checks: the records queued so far and a snapshot of
  // the state that counts them are written on the thread pool (records
  // fsynced first, then the state), while the next bundles are checked. One
  // save at a time; a failed save ends the audit before any other is tried.
  let saving: Promise<void> = Promise.resolve()
  const save = async (): Promise<void> => {
    await saving
    const snapshot: AuditState = { ...state, counts: { ...state.counts }, revocations: revocations.toJSON() }
    const files = records.flushAsync()
    saving = files.then((f) => {
      state.files = f
      return saveStateAsync(o.stateDir, { ...snapshot, files: f })
    })
    saving.catch(() => {})
  }
  const finish = async (p: NonNullable<typeof pending>): Promise<void> => {
    await finishBundle(o, p.prepared, note, records, state, revocations, issuerNames, credCache)
    records.seal()
    state.processed = { treeSize: p.end, edge: p.edge }
    // Save every 8 bundles (2,048 entries, a fraction of a second of work) or
    // 2 s: a crash then repeats at most that much. Each save opens, appends
    // to and fsyncs two files per identity, so saving more often costs the
    // audit more than it could spare a resumed one.
    if (p.bi % 8 === 7 || performance.now() - lastSave > 2000) {
      await save()
      lastSave = performance.now()
    }
    const seconds = (performance.now() - startedAt) / 1000
    o.onProgress?.({ processed: state.processed.treeSize, target, rate: seconds > 0 ? (state.processed.treeSize - start) / seconds : 0 })
  }
  for (let bi = 0; bi < bundles.length; bi++) {
    for (let k = 1; k <= 4 && bi + k < bundles.length; k++) void fetchAt(bi + k).catch(() => {})
    const b = bundles[bi]!
    const [entries, tile] = await fetchAt(bi)
    fetches[bi] = undefined
    const from = Math.max(start, b.start) - b.start
    const to = Math.min(target, b.start + b.width) - b.start
    const items: { index: number; entry: Uint8Array; leaf: Uint8Array }[] = []
    for (let i = from; i < to; i++) {
      const entry = entries[i]!
      const leaf = leafHash(entry)
      const index = b.start + i
      const expected = tile.subarray(i * 32, i * 32 + 32)
      if (!bytesEqual(leaf, expected)) {
        stop('entry-mismatch', `entry ${index} in the entry bundle does not hash to its level-0 tile hash`, {
          index,
          checkpoint: note,
          entry: toBase64(entry),
          leafHash: toHex(leaf),
          tileHash: toHex(expected),
        })
      }
      edge.append(leaf)
      items.push({ index, entry, leaf })
    }
    const next = { prepared: prepareBundle(items, note), end: b.start + to, edge: edge.hashes().map(toBase64), bi }
    if (pending !== undefined) await finish(pending)
    pending = next
  }
  if (pending !== undefined) await finish(pending)
  await save()
  await saving
  // Suspects are found once their revocation is seen, in the records of the
  // entries before it: every record is on disk now.
  if (findSuspects(o.stateDir, state, revocations)) {
    state.revocations = revocations.toJSON()
    await saveStateAsync(o.stateDir, state)
  }
  const complete = state.processed.treeSize === cp.treeSize
  if (complete && !bytesEqual(edge.root(), root)) {
    stop('root-mismatch', `the ${cp.treeSize} entries served in the entry bundles hash to a root other than the checkpoint's`, {
      checkpoint: note,
      computedRoot: toBase64(edge.root()),
    })
  }
  const outcome: AuditOutcome = {
    ok: true,
    complete,
    checkpoint: { ...cp, note },
    processed: state.processed.treeSize,
    processedThisRun: state.processed.treeSize - start,
    counts: { ...state.counts },
    otherIssuers: state.otherIssuers,
    revocations: revocationsBySubject(revocations, state),
  }
  if (complete) {
    const reportFile = join(o.stateDir, 'report.json')
    writeAtomic(
      reportFile,
      JSON.stringify(
        {
          log: o.log,
          complete: `every entry of the log up to this checkpoint was checked; the records list every matching action up to it`,
          checkpoint: note,
          treeSize: cp.treeSize,
          rootHash: cp.rootHash,
          filter,
          records: state.counts,
          otherIssuers: state.otherIssuers,
          revocations: outcome.revocations,
          at: new Date(now()).toISOString(),
        },
        null,
        2,
      ) + '\n',
    )
    outcome.reportFile = reportFile
  }
  return outcome
}

/** Checks what a witness cosigned for this log against the log's own checkpoint. */
async function compareWitness(o: AuditOptions, client: TileClient, url: string, note: string, cp: CheckpointSummary, root: Uint8Array): Promise<void> {
  const where = `${url.replace(/\/+$/, '')}/${toHex(sha256(utf8(cp.origin)))}/checkpoint`
  const res = await client.get(where)
  if (res.status === 404) {
    o.onWarning?.(`witness ${url} has cosigned no checkpoint of ${cp.origin} yet`)
    return
  }
  const text = new TextDecoder().decode(res.body)
  if (res.status !== 200) stop('stale-view', `witness ${url} answered HTTP ${res.status} for its checkpoint of this log`, { witness: url })
  const wv = await verifyCheckpoint(text, { policy: o.policy, requireQuorum: false, now: (o.now ?? Date.now)() })
  if (!wv.ok) stop('bad-checkpoint', `the checkpoint witness ${url} holds for this log does not verify: ${wv.reason}: ${wv.message}`, { witness: url, witnessCheckpoint: text })
  const w = wv.checkpoint
  const wroot = fromBase64(w.rootHash)
  if (w.treeSize <= cp.treeSize) {
    const proof = w.treeSize === cp.treeSize ? [] : await consistencyProof(w.treeSize, cp.treeSize, client.hashReader(cp.treeSize))
    if (!verifyConsistency(w.treeSize, cp.treeSize, proof, wroot, root)) {
      stop('split-view', `witness ${url} cosigned a tree of ${w.treeSize} entries that is not a prefix of the log's checkpoint of ${cp.treeSize}: the log shows different histories`, {
        witness: url,
        witnessCheckpoint: text,
        logCheckpoint: note,
      })
    }
    return
  }
  // The witness has seen more than the log shows us: check that what it saw extends our view.
  let proof: Uint8Array[]
  try {
    proof = await consistencyProof(cp.treeSize, w.treeSize, client.hashReader(w.treeSize))
  } catch (e) {
    stop('stale-view', `witness ${url} cosigned a tree of ${w.treeSize} entries, but the log serves only ${cp.treeSize} and no tiles for the larger tree (${isTlogError(e) ? e.message : String(e)})`, {
      witness: url,
      witnessCheckpoint: text,
      logCheckpoint: note,
    })
  }
  if (!verifyConsistency(cp.treeSize, w.treeSize, proof, root, wroot)) {
    stop('split-view', `the log's checkpoint of ${cp.treeSize} entries is not a prefix of the tree of ${w.treeSize} that witness ${url} cosigned`, {
      witness: url,
      witnessCheckpoint: text,
      logCheckpoint: note,
    })
  }
  o.onWarning?.(`the log's checkpoint (${cp.treeSize}) lags what witness ${url} cosigned (${w.treeSize}); the larger tree extends it`)
}

/** One bundle's entries, parsed, with their signature checks under way. */
interface Prepared {
  items: { index: number; entry: Uint8Array; leaf: Uint8Array }[]
  parsed: LogEntry[]
  signatures: Promise<boolean[]>
}

/** Parses a bundle's entries (a log must refuse any that does not parse) and starts checking their signatures. */
function prepareBundle(items: Prepared['items'], note: string): Prepared {
  const parsed: LogEntry[] = items.map((it) => {
    try {
      return parseEntry(it.entry)
    } catch (e) {
      return stop('bad-statement', `entry ${it.index} is not a valid action statement or revocation (${isTlogError(e) ? `${e.code}: ${e.message}` : String(e)}): the log accepted an entry it must refuse`, {
        index: it.index,
        checkpoint: note,
        entry: toBase64(it.entry),
      })
    }
  })
  // All of a bundle's checks at once: a worker pool then splits them between
  // its threads, where a window of a few dozen kept one thread busy at a time.
  const signatures = verifyBatch(
    parsed.map((e) => {
      const s = e.kind === 'statement' ? e.statement : e.revocation
      return { publicKey: s.kid, message: sigStructure(s.protectedHeader, s.payload), signature: s.signature }
    }),
    parsed.length,
  )
  // Awaited later, in order; a rejection must not go unhandled meanwhile.
  signatures.catch(() => {})
  return { items, parsed, signatures }
}

/**
 * Finishes the checks of one bundle, entry by entry in log order: no pair
 * of the entry's chain revoked by an earlier entry (else the log
 * misbehaved), the signer's signature, and the credential chain (or the
 * revoker's authority) when it ends at an issuer this auditor trusts. A
 * chain ending at another organisation's issuer cannot be judged here and
 * is counted, not recorded. Matching actions are recorded; revocations
 * take effect for the entries after them.
 */
async function finishBundle(
  o: AuditOptions,
  p: Prepared,
  note: string,
  records: RecordFiles,
  state: AuditState,
  revocations: RevocationState,
  issuerNames: Set<string>,
  cache: CredentialCache,
): Promise<void> {
  const sigs = await p.signatures
  for (let i = 0; i < p.items.length; i++) {
    const it = p.items[i]!
    const e = p.parsed[i]!
    const revoked = revocations.revokedAt(chainOf(e), it.index)
    if (revoked !== undefined) {
      stop('revoked-entry', `entry ${it.index} was sequenced after entry ${revoked.index} revoked ${revoked.subject} (key ${revoked.key}), whose key its chain holds: the log accepted an entry it must refuse`, {
        index: it.index,
        revocationIndex: revoked.index,
        revocation: revoked,
        checkpoint: note,
        entry: toBase64(it.entry),
      })
    }
    if (!sigs[i]) {
      stop('bad-statement', `entry ${it.index}: the ${e.kind === 'statement' ? "actor's" : "revoker's"} signature does not verify: the log accepted an entry it must refuse`, { index: it.index, checkpoint: note, entry: toBase64(it.entry) })
    }
    if (e.kind === 'revocation') {
      const r = e.revocation
      const trusted = r.credentials.length === 0 ? o.issuers.issuers.some((t) => bytesEqual(t.publicKey, r.kid)) : issuerNames.has(r.credentials[r.credentials.length - 1]!.issuer)
      if (!trusted) {
        state.otherIssuers++
        continue
      }
      let authority
      try {
        authority = (await checkRevocationAuthority(r, { issuers: o.issuers, cache })).authority
      } catch (err) {
        stop('bad-statement', `entry ${it.index}: the revocation's authority does not hold (${isTlogError(err) ? `${err.code}: ${err.message}` : String(err)}): the log accepted a revocation it must refuse`, {
          index: it.index,
          checkpoint: note,
          entry: toBase64(it.entry),
        })
      }
      revocations.add(revocationRecord(it.index, r, authority))
      continue
    }
    const s = e.statement
    const last = s.credentials[s.credentials.length - 1]!
    if (!issuerNames.has(last.issuer)) {
      state.otherIssuers++
      continue
    }
    let lineage
    try {
      lineage = await checkCredentialChain(s.credentials, { actor: s.statement.actor, kid: s.kid, time: s.statement.time, issuers: o.issuers, cache })
    } catch (err) {
      stop('bad-statement', `entry ${it.index}: the credential chain does not hold (${isTlogError(err) ? `${err.code}: ${err.message}` : String(err)}): the log accepted a statement it must refuse`, {
        index: it.index,
        checkpoint: note,
        entry: toBase64(it.entry),
      })
    }
    const st = s.statement
    if (o.actor !== undefined && st.actor !== o.actor) continue
    if (o.org !== undefined && lineage.org !== o.org) continue
    if (o.since !== undefined && st.time < o.since) continue
    records.add(st.actor, toRecord(it.index, toHex(it.leaf), decodeStatement(s), lineage))
    state.counts[st.actor] = (state.counts[st.actor] ?? 0) + 1
  }
}

/**
 * Finds the suspects of every revocation naming a `since` that has none
 * yet: the recorded entries before it, of an identity its subject is or
 * holds, whose lineage has the revoked pair and whose time is at or after
 * `since`. Reads the identities' JSON Lines records. Returns true when it
 * added any to `state.suspects`.
 */
function findSuspects(stateDir: string, state: AuditState, revocations: RevocationState): boolean {
  const todo = revocations.toJSON().filter((r) => r.since !== undefined && state.suspects?.[r.index] === undefined)
  if (todo.length === 0) return false
  state.suspects ??= {}
  for (const r of todo) {
    const found: number[] = []
    const namespace = r.subject.endsWith('/') || r.subject.endsWith(':')
    for (const identity of Object.keys(state.counts)) {
      if (identity !== r.subject && !(namespace && identity.startsWith(r.subject))) continue
      const file = join(stateDir, 'records', `${fileStem(identity)}.jsonl`)
      if (!existsSync(file)) continue
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue
        const rec = JSON.parse(line) as AuditRecord
        if (rec.index < r.index && rec.time >= r.since! && rec.lineage?.some((l) => l.subject === r.subject && l.key === r.key)) found.push(rec.index)
      }
    }
    state.suspects[r.index] = found.sort((a, b) => a - b)
  }
  return true
}

/** Returns the revocations by revoked subject, each with its suspect entries. */
function revocationsBySubject(revocations: RevocationState, state: AuditState): Record<string, (RevocationRecord & { suspect: number[] })[]> {
  const out: Record<string, (RevocationRecord & { suspect: number[] })[]> = {}
  for (const r of revocations.toJSON()) (out[r.subject] ??= []).push({ ...r, suspect: state.suspects?.[r.index] ?? [] })
  return out
}
