/**
 * Crash soak: a log and two witnesses as real processes under load from
 * concurrent submitters; the log is killed with SIGKILL at random moments
 * (and, in some cycles, a witness too) and restarted. After every cycle the
 * soak checks, with core code and through the public read API only:
 *
 *  - every acknowledged index is served with the bytes acknowledged (the
 *    whole tree is read through entry bundles and level-0 tiles, and its
 *    root must equal the log-signed checkpoint of the restarted log);
 *  - every checkpoint ever served (in /add answers, at /checkpoint, by the
 *    witnesses' monitoring API) was signed by the log, no two disagree on a
 *    size, and each is consistent with the restarted log's tree (consistency
 *    proofs built from tiles), so every checkpoint is consistent with the next;
 *  - no statement is in the tree twice, and resubmitting an acknowledged
 *    statement answers its index;
 *  - no witness refused a checkpoint as a rollback, a split view or a bad
 *    proof (its kept evidence, read from its data directory whenever it is
 *    down and at the end, and its /metrics), and no witness's cosigned size
 *    ever went down; a 409 resync is normal;
 *  - once both witnesses are up, the witnessed checkpoint catches up.
 *
 * Usage: npx tsx scripts/crash-soak.ts [--cycles N] [--seed S] [--rate R]
 *          [--submitters K] [--dir D] [--keep] [--json]
 * Exits 1 when anything is lost or inconsistent, or a witness refused.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { bytesEqual, leafHash, parseCheckpoint, parseNote, parseTlogProof, toHex, verifyInclusion } from '../src/core/index.ts'
import { LevelKv } from '../src/storage/index.ts'
import { WitnessState } from '../witness/state.ts'
import {
  ACTLOG,
  Actor,
  MONITOR_PATH,
  ORIGIN,
  TileClient,
  metricValue,
  openCheckpoint,
  randInt,
  seededRandom,
  sleep,
  startLog,
  startWitness,
  writeNetwork,
  type Child,
  type SpawnOptions,
} from './reliability-kit.ts'

/** What a soak runs. */
export interface SoakOptions {
  /** Kill-and-restart cycles of the log (default 100). */
  cycles?: number
  /** Seed of every random choice (default 1). */
  seed?: number
  /** Working directory (default: a new temp directory, removed at the end unless `keep`). */
  dir?: string
  keep?: boolean
  /** Concurrent submitters (default 8); one of them asks for `?wait=witnessed`. */
  submitters?: number
  /** Statements offered per second, all submitters together (default 300). */
  rate?: number
  /** The log runs this long (random in the range, ms) before it is killed (default 150..2500). */
  minRunMs?: number
  maxRunMs?: number
  /** Chance that a cycle also kills a witness (default 0.4). */
  witnessKillChance?: number
  /** Chance that the restarted log is also killed during its startup (default 0.1). */
  earlyKillChance?: number
  /** Full entry bundles read again per cycle, at random (default 4). */
  refetchPerCycle?: number
  /** Witness processes, 2 (default) or 0 (then the log publishes its own checkpoints). */
  witnesses?: 0 | 2
  /** How the log process is spawned (tests use a launcher that injects storage faults, to check that the soak sees them). */
  logSpawn?: SpawnOptions
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void
}

/** The figures of a soak. */
export interface SoakSummary {
  seed: number
  cycles: number
  logKills: number
  witnessKills: number
  /** Distinct indices acknowledged to submitters. */
  acknowledged: number
  /** Acknowledged indices not served with the acknowledged bytes after a restart. */
  lost: number
  /** Checkpoints not signed by the log, two roots for one size, a served tree the log no longer has, a failed consistency proof, a witness whose size went down. */
  inconsistencies: number
  /** Refusals kept as evidence by a witness (rollback, split view, bad proof), 422 answers, restore-guard trips. */
  witnessRefusals: number
  /** Statements found twice in the tree, or acknowledged at two indices. */
  duplicates: number
  /** Distinct checkpoints checked for consistency. */
  checkpointsChecked: number
  /** Submissions whose answer was lost (connection killed, 503) and that were sent again. */
  retried: number
  /** Acknowledged statements sent again after a restart, each answered with its index. */
  resubmitted: number
  /**
   * Reads of GET /checkpoint older than one read before: after a kill -9 the
   * log serves the witnessed checkpoint it had stored, which may be older
   * than the one it served last (consistent with it; it catches up once the
   * witnesses cosign again). A figure, not a failure.
   */
  publishedWentBack: number
  /** Tree size at the end. */
  treeSize: number
  /** Longest time from a restart of the log to serving (ms). */
  maxRestartMs: number
  seconds: number
  /** What went wrong, one line each (the first 50). */
  problems: string[]
}

interface Ack {
  index: number
  leaf: string
}

/** Runs the soak and returns its figures; never throws for a finding, only for a broken setup. */
export async function runSoak(opts: SoakOptions = {}): Promise<SoakSummary> {
  const cycles = opts.cycles ?? 100
  const seed = opts.seed ?? 1
  const rand = seededRandom(seed)
  const say = opts.log ?? (() => {})
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'actlog-soak-'))
  const started = performance.now()
  const nw = opts.witnesses ?? 2
  const W = Array.from({ length: nw }, (_, i) => i)
  const net = await writeNetwork(dir, { witnesses: nw, batch: { maxEntries: 64, maxDelayMs: 5 }, witnessWaitSeconds: 3 })
  const s: SoakSummary = {
    seed,
    cycles: 0,
    logKills: 0,
    witnessKills: 0,
    acknowledged: 0,
    lost: 0,
    inconsistencies: 0,
    witnessRefusals: 0,
    duplicates: 0,
    checkpointsChecked: 0,
    retried: 0,
    resubmitted: 0,
    publishedWentBack: 0,
    treeSize: 0,
    maxRestartMs: 0,
    seconds: 0,
    problems: [],
  }
  const problem = (what: string): void => {
    if (s.problems.length < 50) s.problems.push(what)
    say(`PROBLEM: ${what}`)
  }

  const acked = new Map<number, string>()
  const ackedByLeaf = new Map<string, number>()
  const lostIndices = new Set<number>()
  const rootBySize = new Map<number, string>()
  let pending: { treeSize: number; rootHash: Uint8Array; from: string }[] = []
  const notesSeen = new Set<string>()
  let publishedMax = 0
  const monitorSize = W.map(() => 0)
  const evidenceSeen = W.map(() => 0)
  const reported422 = W.map(() => 0)

  /** Records a served checkpoint: signed by the log, one root per size; checked for consistency after the next restart. */
  const seen = async (note: string, from: string): Promise<void> => {
    if (notesSeen.has(note)) return
    notesSeen.add(note)
    let c: { treeSize: number; rootHash: Uint8Array }
    try {
      c = await openCheckpoint(note)
    } catch (e) {
      s.inconsistencies++
      problem(`${from} served a checkpoint the log's key did not sign: ${String(e)}`)
      return
    }
    const root = toHex(c.rootHash)
    const known = rootBySize.get(c.treeSize)
    if (known === undefined) {
      rootBySize.set(c.treeSize, root)
      pending.push({ ...c, from })
    } else if (known !== root) {
      s.inconsistencies++
      problem(`two histories: ${from} served size ${c.treeSize} with root ${root}, another source ${known}`)
    }
  }

  const onAck = async (entry: Uint8Array, body: { index: number; leafHash: string; checkpoint: string; proof: string }, from: string): Promise<void> => {
    const leaf = toHex(leafHash(entry))
    if (body.leafHash !== leaf) {
      s.inconsistencies++
      problem(`/add answered leaf hash ${body.leafHash} for a statement whose leaf hash is ${leaf}`)
      return
    }
    const p = parseTlogProof(body.proof)
    const cp = parseCheckpoint(parseNote(p.checkpoint).text)
    if (p.index !== body.index || !verifyInclusion(leafHash(entry), body.index, cp.treeSize, p.proof, cp.rootHash)) {
      s.inconsistencies++
      problem(`/add answered a proof for index ${body.index} that does not verify`)
    }
    await seen(body.checkpoint, from)
    const before = acked.get(body.index)
    if (before !== undefined && before !== leaf) {
      s.lost++
      lostIndices.add(body.index)
      problem(`index ${body.index} acknowledged for two different statements`)
    }
    const other = ackedByLeaf.get(leaf)
    if (other !== undefined && other !== body.index) {
      s.duplicates++
      problem(`one statement acknowledged at indices ${other} and ${body.index}`)
    }
    acked.set(body.index, leaf)
    ackedByLeaf.set(leaf, body.index)
  }

  // ------------------------------------------------------------ processes
  const witnesses: (Child | undefined)[] = []
  for (const i of W) witnesses.push(await startWitness(net, i))
  let log: Child | undefined = await startLog(net, opts.logSpawn)
  let logUp = true

  // ------------------------------------------------------------ load
  let stopping = false
  const submitters = opts.submitters ?? 8
  const rate = opts.rate ?? 300
  let slot = performance.now()
  let counter = 0
  const actor = new Actor('soak')
  const submitter = async (k: number): Promise<void> => {
    const query = k === 0 ? '?wait=witnessed' : ''
    while (!stopping) {
      // Open loop at `rate` for all submitters together.
      slot = Math.max(slot + 1000 / rate, performance.now() - 1000)
      const wait = slot - performance.now()
      if (wait > 0) await sleep(wait)
      const entry = await actor.statement(counter++, Date.now(), `seed ${seed} `)
      const born = Date.now()
      for (let attempt = 0; !stopping && Date.now() - born < 120_000; attempt++) {
        if (attempt > 0) s.retried++
        let res: Response
        try {
          res = await fetch(`${net.logUrl}/add${query}`, {
            method: 'POST',
            headers: { 'content-type': 'application/cose' },
            body: entry as BodyInit,
            signal: AbortSignal.timeout(20_000),
          })
        } catch {
          // The log died with this request in flight, or is down: its answer
          // is lost, so send the very same bytes again (that is how a client
          // recovers a lost reply).
          await sleep(randInt(Math.random, 30, 120))
          continue
        }
        const text = await res.text().catch(() => '')
        if (res.status === 200) {
          try {
            await onAck(entry, JSON.parse(text) as { index: number; leafHash: string; checkpoint: string; proof: string }, 'add')
          } catch (e) {
            s.inconsistencies++
            problem(`/add answered 200 with a body that does not parse: ${String(e)}`)
          }
          break
        }
        if (res.status === 503) {
          await sleep(randInt(Math.random, 50, 200))
          continue
        }
        problem(`/add answered ${res.status}: ${text.slice(0, 300)}`)
        break
      }
    }
  }
  const load = Array.from({ length: submitters }, (_, k) => submitter(k))

  // ------------------------------------------------------------ watchers of served checkpoints
  const watch = async (): Promise<void> => {
    while (!stopping) {
      if (logUp) {
        try {
          const res = await fetch(`${net.logUrl}/checkpoint`, { signal: AbortSignal.timeout(5000) })
          if (res.status === 200) {
            const note = await res.text()
            await seen(note, 'GET /checkpoint')
            const size = parseCheckpoint(parseNote(note).text).treeSize
            // Consistent, but older than one served before (counted, not a failure).
            if (size < publishedMax) s.publishedWentBack++
            publishedMax = Math.max(publishedMax, size)
          } else await res.arrayBuffer()
        } catch {
          // The log is being killed.
        }
      }
      for (const i of W) {
        const w = witnesses[i]
        if (w === undefined) continue
        try {
          const res = await fetch(`${net.witnessUrls[i]}${MONITOR_PATH}`, { signal: AbortSignal.timeout(5000) })
          if (res.status !== 200) {
            await res.arrayBuffer()
            continue
          }
          const note = await res.text()
          await seen(note, `witness W${i + 1}`)
          const size = parseCheckpoint(parseNote(note).text).treeSize
          if (size < monitorSize[i]!) {
            s.inconsistencies++
            problem(`witness W${i + 1}'s cosigned size went down from ${monitorSize[i]} to ${size}`)
          }
          monitorSize[i] = Math.max(monitorSize[i]!, size)
        } catch {
          // Being killed.
        }
      }
      await sleep(100)
    }
  }
  const watcher = watch()

  // ------------------------------------------------------------ witness refusals
  const scrapeWitness = async (i: number): Promise<void> => {
    try {
      const text = await (await fetch(`${net.witnessUrls[i]}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
      const refused = metricValue(text, 'actlog_witness_http_responses_total', { status: '422' })
      const evidence = metricValue(text, 'actlog_witness_evidence_total')
      if (refused + evidence > reported422[i]!) {
        problem(`witness W${i + 1} answered 422 ${refused} times and kept ${evidence} evidence records since it started`)
        reported422[i] = refused + evidence
      }
    } catch {
      // Down.
    }
  }
  /** Reads the evidence a stopped witness kept, from its data directory. */
  const readEvidence = async (i: number): Promise<void> => {
    const kv = await LevelKv.open(net.witnessDataDirs[i]!)
    try {
      const ev = await new WitnessState(kv).evidence(ORIGIN)
      if (ev.length > evidenceSeen[i]!) {
        for (const e of ev.slice(evidenceSeen[i])) problem(`witness W${i + 1} kept evidence (${e.reason}, ${e.status}): ${e.message}`)
        evidenceSeen[i] = ev.length
      }
    } finally {
      await kv.close()
    }
  }
  const killWitness = async (i: number): Promise<void> => {
    await scrapeWitness(i)
    const w = witnesses[i]
    witnesses[i] = undefined
    await w?.kill9()
    s.witnessKills++
    await readEvidence(i)
  }
  const restartWitness = async (i: number): Promise<void> => {
    witnesses[i] = await startWitness(net, i)
  }

  // ------------------------------------------------------------ checks after a restart
  const tiles = new TileClient(net.logUrl)
  let leavesChecked = 0
  const leavesInTree = new Set<string>()
  const check = async (cycle: number): Promise<string> => {
    // What was acknowledged and served before this point must all be there.
    const ackSnapshot = [...acked]
    const cps = pending
    pending = []
    const health = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { status: string; treeSize: number; reason?: string }
    if (health.status !== 'ok') {
      s.witnessRefusals++
      problem(`the log is ${health.status} after restart: ${health.reason}`)
    }
    const n = health.treeSize
    const { hashes, root } = await tiles.tree(n, () => false)
    const refetch = new Set<number>()
    const full = Math.floor(n / 256)
    for (let k = 0; k < (opts.refetchPerCycle ?? 4) && full > 0; k++) refetch.add(randInt(rand, 0, full - 1))
    for (const b of refetch) await tiles.bundle(b, n, true)
    // The log-signed checkpoint of the restarted tree, which the tree read from tiles must match.
    if (n > 0) {
      const proof = await (await fetch(`${net.logUrl}/proof/0?size=${n}`)).text()
      const anchor = await openCheckpoint(parseTlogProof(proof).checkpoint)
      if (anchor.treeSize !== n || !bytesEqual(anchor.rootHash, root)) {
        s.inconsistencies++
        problem(`the tiles of the restarted log hash to ${toHex(root)}, its checkpoint of size ${n} says ${toHex(anchor.rootHash)}`)
      }
      await seen(parseTlogProof(proof).checkpoint, 'GET /proof')
    }
    let lostNow = 0
    for (const [index, leaf] of ackSnapshot) {
      if (lostIndices.has(index)) continue
      if (index >= n || toHex(hashes[index]!) !== leaf) {
        lostIndices.add(index)
        s.lost++
        lostNow++
        if (lostNow <= 5) problem(`acknowledged index ${index} ${index >= n ? `is beyond the restarted tree of ${n}` : 'is served with other bytes'}`)
      }
    }
    for (let i = leavesChecked; i < n; i++) {
      const h = toHex(hashes[i]!)
      if (leavesInTree.has(h)) {
        s.duplicates++
        problem(`the statement at index ${i} is in the tree twice`)
      }
      leavesInTree.add(h)
    }
    leavesChecked = Math.max(leavesChecked, n)
    const cache = new Map()
    for (const c of cps) {
      s.checkpointsChecked++
      const ok = c.treeSize <= n && (await tiles.consistent(c, n, root, cache))
      if (!ok) {
        s.inconsistencies++
        problem(`checkpoint of size ${c.treeSize} served by ${c.from} is ${c.treeSize > n ? `beyond the restarted tree of ${n}` : 'not consistent with the restarted tree'}`)
      }
    }
    // Resubmitting acknowledged statements answers their indices.
    const sample = ackSnapshot.filter(([i]) => !lostIndices.has(i)).sort(() => rand() - 0.5).slice(0, 5)
    for (const [index] of sample) {
      const bundle = await tiles.bundle(Math.floor(index / 256), n)
      const entry = bundle.entries[index % 256]!
      const res = await fetch(`${net.logUrl}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: entry as BodyInit })
      const body = (await res.json()) as { index?: number }
      s.resubmitted++
      if (res.status !== 200 || body.index !== index) {
        s.duplicates++
        problem(`resubmitting the statement at index ${index} answered ${res.status} index ${body.index}`)
      }
    }
    for (const i of W) await scrapeWitness(i)
    s.treeSize = n
    return `restarted log holds ${n} entries, ${ackSnapshot.length} acknowledged before, ${cps.length} new checkpoints checked`
  }

  /** Waits until GET /checkpoint covers `size` (both witnesses up). */
  const caughtUp = async (size: number): Promise<boolean> => {
    const end = Date.now() + 30_000
    while (Date.now() < end) {
      try {
        const res = await fetch(`${net.logUrl}/checkpoint`)
        if (res.status === 200) {
          const note = await res.text()
          await seen(note, 'GET /checkpoint')
          if (parseCheckpoint(parseNote(note).text).treeSize >= size) return true
        }
      } catch {
        // Retry.
      }
      await sleep(100)
    }
    return false
  }

  // ------------------------------------------------------------ cycles
  try {
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const runMs = randInt(rand, opts.minRunMs ?? 150, opts.maxRunMs ?? 2500)
      let witnessEvent: Promise<void> | undefined
      let note = ''
      if (nw > 0 && rand() < (opts.witnessKillChance ?? 0.4)) {
        const i = randInt(rand, 0, nw - 1)
        const at = randInt(rand, 0, runMs)
        const down = randInt(rand, 100, 2500)
        note = `, W${i + 1} killed at ${at} ms for ${down} ms`
        witnessEvent = (async () => {
          await sleep(at)
          await killWitness(i)
          await sleep(down)
          await restartWitness(i)
        })()
      }
      await sleep(runMs)
      logUp = false
      await log!.kill9()
      s.logKills++
      const t = performance.now()
      const out = log!.output()
      if (/RESTORE GUARD|refused checkpoint/.test(out)) {
        s.witnessRefusals++
        problem(`the log reported a witness refusal: ${/.*(RESTORE GUARD|refused checkpoint).*/.exec(out)?.[0]}`)
      }
      log = undefined
      if (rand() < (opts.earlyKillChance ?? 0.1)) {
        // Sometimes kill the next process during startup and recovery too.
        const at = randInt(rand, 20, 700)
        const early = spawn(process.execPath, [opts.logSpawn?.entry ?? ACTLOG, 'serve', '--config', net.logConfig], { stdio: 'ignore', env: { ...process.env, ...opts.logSpawn?.env } })
        await sleep(at)
        early.kill('SIGKILL')
        if (early.exitCode === null && early.signalCode === null) await new Promise((r) => early.once('exit', r))
        s.logKills++
        note += `, restarted and killed again ${at} ms into startup`
      }
      try {
        log = await startLog(net, opts.logSpawn)
      } catch (e) {
        s.inconsistencies++
        problem(`cycle ${cycle}: the log did not restart: ${String(e)}`)
        break
      }
      logUp = true
      const restartMs = performance.now() - t
      s.maxRestartMs = Math.max(s.maxRestartMs, restartMs)
      try {
        await witnessEvent
      } catch (e) {
        problem(`cycle ${cycle}: a witness did not restart: ${String(e)}`)
        break
      }
      let what: string
      try {
        what = await check(cycle)
      } catch (e) {
        s.inconsistencies++
        problem(`cycle ${cycle}: reading the restarted log failed: ${e instanceof Error ? e.message : String(e)}`)
        what = 'check FAILED'
      }
      let caught = ''
      if (!(await caughtUp(s.treeSize))) {
        problem(`cycle ${cycle}: the witnessed checkpoint did not reach size ${s.treeSize} within 30 s`)
        caught = ', witnessing STALLED'
      }
      s.cycles = cycle
      s.acknowledged = acked.size
      say(
        `cycle ${cycle}/${cycles}: log killed after ${runMs} ms${note}; restarted in ${Math.round(restartMs)} ms; ${what}; ` +
          `acknowledged ${acked.size}, lost ${s.lost}, inconsistencies ${s.inconsistencies}, refusals ${s.witnessRefusals + evidenceSeen.reduce((a, b) => a + b, 0)}${caught}`,
      )
    }
  } finally {
    stopping = true
    await Promise.allSettled([...load, watcher])
  }

  // ------------------------------------------------------------ final check: everything read again
  try {
    const ackSnapshot = [...acked]
    const health = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }
    const { hashes } = await tiles.tree(health.treeSize, () => true)
    for (const [index, leaf] of ackSnapshot) {
      if (!lostIndices.has(index) && (index >= health.treeSize || toHex(hashes[index]!) !== leaf)) {
        lostIndices.add(index)
        s.lost++
        problem(`final read: acknowledged index ${index} is not served with its bytes`)
      }
    }
    s.treeSize = health.treeSize
  } catch (e) {
    problem(`final read failed: ${String(e)}`)
    s.inconsistencies++
  }
  for (const i of W) await scrapeWitness(i)
  await log?.stop()
  for (const i of W) {
    await witnesses[i]?.stop()
    witnesses[i] = undefined
    await readEvidence(i)
  }
  for (const i of W) s.witnessRefusals += evidenceSeen[i]! + Math.max(0, reported422[i]! - evidenceSeen[i]!)
  s.acknowledged = acked.size
  s.seconds = Math.round((performance.now() - started) / 100) / 10
  if (opts.dir === undefined && opts.keep !== true) rmSync(dir, { recursive: true, force: true })
  return s
}

/** Returns whether a soak's figures show nothing lost, inconsistent or refused. */
export function soakPassed(s: SoakSummary): boolean {
  return s.lost === 0 && s.inconsistencies === 0 && s.witnessRefusals === 0 && s.duplicates === 0 && s.problems.length === 0
}

/** Returns the summary as printed lines. */
export function formatSoak(s: SoakSummary): string {
  return [
    `crash soak (seed ${s.seed}): ${s.cycles} cycles in ${s.seconds} s`,
    `  log killed -9:           ${s.logKills}`,
    `  witness killed -9:       ${s.witnessKills}`,
    `  acknowledged entries:    ${s.acknowledged}`,
    `  tree size at the end:    ${s.treeSize}`,
    `  lost entries:            ${s.lost}`,
    `  inconsistencies:         ${s.inconsistencies}`,
    `  witness refusals:        ${s.witnessRefusals}`,
    `  duplicates:              ${s.duplicates}`,
    `  checkpoints checked:     ${s.checkpointsChecked}`,
    `  submissions retried:     ${s.retried}`,
    `  acknowledged resubmitted: ${s.resubmitted}`,
    `  /checkpoint reads older than an earlier read (after restarts): ${s.publishedWentBack}`,
    `  slowest restart:         ${Math.round(s.maxRestartMs)} ms`,
    ...(s.problems.length > 0 ? ['  problems:', ...s.problems.map((p) => `    ${p}`)] : []),
    soakPassed(s) ? 'PASS' : 'FAIL',
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '100' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      rate: { type: 'string' },
      submitters: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const num = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--${what} must be a non-negative integer`)
    return n
  }
  const summary = await runSoak({
    cycles: num(values.cycles, 'cycles')!,
    seed: num(values.seed, 'seed')!,
    ...(values.rate !== undefined ? { rate: num(values.rate, 'rate')! } : {}),
    ...(values.submitters !== undefined ? { submitters: num(values.submitters, 'submitters')! } : {}),
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    keep: values.keep,
    log: (line) => console.log(line),
  })
  console.log(formatSoak(summary))
  if (values.json) console.log(JSON.stringify(summary))
  process.exitCode = soakPassed(summary) ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()

