/**
 * A real full disk and a real read-only disk, on small filesystems mounted
 * for the run (tmpfs, and ext4 on a loop device): needs root and a kernel
 * that lets it mount. Where the machine refuses, it says so and stops (the
 * injected-ENOSPC tests of `npm test` still cover the storage layer:
 * test/unit/server/enospc.test.ts, test/e2e/storage-faults.e2e.test.ts).
 *
 * For each filesystem:
 *  1. a log whose data directory fills up under load: it must exit 70 with
 *     a message naming the full disk; started again on the full disk, it
 *     must refuse with one clear line or start; once space is freed it
 *     starts and serves every acknowledged entry, consistent with every
 *     checkpoint it handed out, and takes new ones;
 *  2. a witness whose data directory fills up: it refuses to cosign (no
 *     cosignature for a checkpoint it could not store), its cosigned size
 *     never goes down, the log publishes nothing past the quorum, and once
 *     space is freed it catches up by itself;
 *  3. a log on a filesystem remounted read-only: a clear one-line error and
 *     no damage (same checkpoint once writable again).
 *
 * Usage: npx tsx scripts/full-disk.ts [--fs tmpfs|ext4|both] [--json]
 * Exits 1 when a promise is broken, 0 otherwise (also when it could not run).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { bytesEqual, parseCheckpoint, parseNote } from '../src/core/index.ts'
import {
  Actor,
  MONITOR_PATH,
  TileClient,
  metricValue,
  openCheckpoint,
  runActlog,
  sleep,
  startLog,
  startWitness,
  submitLoad,
  writeNetwork,
  type Child,
  type Network,
} from './reliability-kit.ts'

/** What happened on one filesystem. */
export interface FullDiskResult {
  fs: string
  /** Entries acknowledged before the disk filled. */
  acknowledged: number
  /** The log's exit status when the disk filled, and the line it printed. */
  exitCode: number | null
  exitMessage: string
  /** Starting on the still-full disk: what the CLI said (or 'started'). */
  restartOnFull: string
  /** Acknowledged entries not served after space was freed. */
  lost: number
  /** Checkpoints handed out that the recovered log is not consistent with. */
  inconsistencies: number
  /** The witness on a full disk: failed writes answered, and whether it caught up once space was freed. */
  witnessFailures: number
  witnessCaughtUp: boolean
  witnessWentBack: boolean
  /** A read-only data directory: what the CLI said, and whether the data was intact afterwards. */
  readOnlyMessage: string
  readOnlyIntact: boolean
  problems: string[]
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function freeBytes(dir: string): number {
  return Number(sh('df', ['-B1', '--output=avail', dir]).split('\n')[1]!.trim())
}

/** Fills the filesystem of `dir` with a ballast file, leaving about `leave` bytes. */
function fill(dir: string, leave: number): void {
  writeFileSync(join(dir, 'ballast'), Buffer.alloc(Math.max(0, freeBytes(dir) - leave)))
}

/** Mounts a small filesystem of `kind` at `mnt`; returns how to unmount it, or throws why it cannot. */
function mountSmall(kind: 'tmpfs' | 'ext4', mnt: string, work: string): () => void {
  mkdirSync(mnt, { recursive: true })
  if (kind === 'tmpfs') {
    sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt])
  } else {
    const img = join(work, 'ext4.img')
    writeFileSync(img, Buffer.alloc(0))
    sh('truncate', ['-s', '24M', img])
    sh('mkfs.ext4', ['-q', '-F', '-m', '0', img])
    sh('mount', ['-o', 'loop', img, mnt])
  }
  return () => {
    try {
      sh('umount', [mnt])
    } catch {
      sh('umount', ['-l', mnt])
    }
  }
}

function moveDataDir(configFile: string, dataDir: string): void {
  const cfg = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>
  cfg.dataDir = dataDir
  writeFileSync(configFile, JSON.stringify(cfg, null, 2))
}

async function intact(net: Network, acked: Map<number, Uint8Array>, checkpoints: string[], r: FullDiskResult): Promise<void> {
  const health = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }
  const tiles = new TileClient(net.logUrl)
  const { entries, root } = await tiles.tree(health.treeSize)
  for (const [i, e] of acked) if (i >= health.treeSize || !bytesEqual(entries[i]!, e)) r.lost++
  const cache = new Map()
  for (const note of new Set(checkpoints)) {
    if (!(await tiles.consistent(await openCheckpoint(note), health.treeSize, root, cache))) r.inconsistencies++
  }
}

async function logPhase(kind: string, mnt: string, work: string, r: FullDiskResult): Promise<void> {
  const net = await writeNetwork(join(work, 'log'), { witnesses: 0, logDataDir: join(mnt, 'log-data'), batch: { maxEntries: 64, maxDelayMs: 2 } })
  const actor = new Actor(`full-${kind}`)
  let log: Child | undefined = await startLog(net)
  const acked = new Map<number, Uint8Array>()
  const checkpoints: string[] = []
  try {
    // Some entries while there is room, then the disk fills under load.
    const first = await submitLoad(net.logUrl, actor, { concurrency: 8, count: 200 })
    for (const [i, e] of first.acked) acked.set(i, e)
    checkpoints.push(...first.checkpoints)
    fill(mnt, 256 * 1024)
    let n = 1000
    while (log.proc.exitCode === null && n < 200_000) {
      const more = await submitLoad(net.logUrl, actor, { concurrency: 8, count: 500, startAt: n })
      n += 500
      for (const [i, e] of more.acked) acked.set(i, e)
      checkpoints.push(...more.checkpoints)
      if (more.statuses.error !== undefined) break
    }
    const exit = await Promise.race([log.exited, sleep(10_000).then(() => undefined)])
    r.acknowledged = acked.size
    r.exitCode = exit?.code ?? null
    r.exitMessage = /actlog: the log stopped.*/.exec(log.output())?.[0] ?? log.output().trim().split('\n').slice(-1)[0] ?? ''
    if (exit === undefined) {
      r.problems.push(`${kind}: the log did not stop when its disk filled`)
      await log.kill9()
    } else if (exit.code !== 70 || !/No space left on device/.test(r.exitMessage)) {
      r.problems.push(`${kind}: the log exited ${exit.code} without naming the full disk: ${r.exitMessage}`)
    }
    log = undefined
    // Started again on the full disk.
    const again = await runActlogUntil(net, 5_000)
    r.restartOnFull = again
    if (again !== 'started' && !/^actlog: cannot open LevelDB in \S+: .*No space left on device; the disk is full: free space on it, then start again/.test(again)) {
      r.problems.push(`${kind}: starting on the full disk said: ${again}`)
    }
    // Space freed: everything acknowledged is there.
    rmSync(join(mnt, 'ballast'))
    log = await startLog(net)
    await intact(net, acked, checkpoints, r)
    const after = await submitLoad(net.logUrl, actor, { concurrency: 4, count: 50, startAt: 900_000 })
    if (after.acked.size !== 50) r.problems.push(`${kind}: the recovered log acknowledged ${after.acked.size} of 50: ${JSON.stringify(after.statuses)}`)
    if (r.lost > 0) r.problems.push(`${kind}: ${r.lost} acknowledged entries lost`)
    if (r.inconsistencies > 0) r.problems.push(`${kind}: ${r.inconsistencies} checkpoints inconsistent with the recovered log`)
    // Read-only: stop, remount read-only, start.
    const checkpoint = await (await fetch(`${net.logUrl}/checkpoint`)).text()
    await log.stop()
    log = undefined
    sh('mount', ['-o', 'remount,ro', mnt])
    try {
      const ro = await runActlog(['serve', '--config', net.logConfig])
      r.readOnlyMessage = (ro.stderr.trim() || ro.stdout.trim()).split('\n')[0] ?? ''
      if (ro.code !== 1 || !/^actlog: cannot open LevelDB in \S+: .*Read-only file system; its file system is mounted read-only: remount it read-write, then start again$/.test(r.readOnlyMessage)) {
        r.problems.push(`${kind}: on a read-only disk the log said (exit ${ro.code}): ${ro.stderr}`)
      }
    } finally {
      sh('mount', ['-o', 'remount,rw', mnt])
    }
    log = await startLog(net)
    r.readOnlyIntact = (await (await fetch(`${net.logUrl}/checkpoint`)).text()) === checkpoint
    if (!r.readOnlyIntact) r.problems.push(`${kind}: the checkpoint changed across the read-only start`)
  } finally {
    await log?.kill9()
  }
}

/** Runs `actlog serve` for up to `ms`: returns 'started', or the first line it printed before exiting. */
async function runActlogUntil(net: Network, ms: number): Promise<string> {
  try {
    const c = await startLog(net, { timeoutMs: ms })
    await c.kill9()
    return 'started'
  } catch (e) {
    const out = (e as { output?: string }).output ?? String(e)
    return out.trim().split('\n')[0] ?? ''
  }
}

async function witnessPhase(kind: string, mnt: string, work: string, r: FullDiskResult): Promise<void> {
  const net = await writeNetwork(join(work, 'witnessed'), { witnesses: 2, batch: { maxEntries: 64, maxDelayMs: 2 }, witnessWaitSeconds: 2 })
  moveDataDir(net.witnessConfigs[0]!, join(mnt, 'w1-data'))
  const children: Child[] = []
  const sizes: number[] = []
  let stop = false
  try {
    children.push(await startWitness(net, 0), await startWitness(net, 1))
    children.push(await startLog(net))
    const monitor = (async () => {
      while (!stop) {
        const res = await fetch(`${net.witnessUrls[0]}${MONITOR_PATH}`).catch(() => undefined)
        if (res?.status === 200) sizes.push(parseCheckpoint(parseNote(await res.text()).text).treeSize)
        await sleep(50)
      }
    })()
    const actor = new Actor(`witness-full-${kind}`)
    await submitLoad(net.logUrl, actor, { concurrency: 4, count: 20, query: '?wait=witnessed' })
    fill(mnt, 64 * 1024)
    let n = 100
    const failures = async (): Promise<number> => {
      const m = await (await fetch(`${net.witnessUrls[0]}/metrics`)).text()
      return metricValue(m, 'actlog_witness_store_write_failures_total')
    }
    const deadline = Date.now() + 120_000
    while ((await failures()) < 3 && Date.now() < deadline) {
      await submitLoad(net.logUrl, actor, { concurrency: 8, count: 40, startAt: n })
      n += 40
    }
    r.witnessFailures = await failures()
    if (r.witnessFailures === 0) r.problems.push(`${kind}: the witness's disk never filled`)
    const w1 = children[0]!
    if (!/No space left on device/.test(w1.output())) r.problems.push(`${kind}: the witness did not report the full disk`)
    rmSync(join(mnt, 'ballast'))
    // Once there is room again, the witness catches up by itself (the log retries it).
    const target = ((await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }).treeSize
    const end = Date.now() + 60_000
    while (Date.now() < end) {
      const res = await fetch(`${net.logUrl}/checkpoint`)
      if (res.status === 200 && parseCheckpoint(parseNote(await res.text()).text).treeSize >= target) {
        r.witnessCaughtUp = true
        break
      }
      await submitLoad(net.logUrl, actor, { concurrency: 1, count: 1, startAt: n++ })
      await sleep(200)
    }
    if (!r.witnessCaughtUp) r.problems.push(`${kind}: the witness did not catch up within 60 s of space being freed`)
    stop = true
    await monitor
    for (let i = 1; i < sizes.length; i++) if (sizes[i]! < sizes[i - 1]!) r.witnessWentBack = true
    if (r.witnessWentBack) r.problems.push(`${kind}: the witness's cosigned size went down`)
    const m = await (await fetch(`${net.witnessUrls[0]}/metrics`)).text()
    if (metricValue(m, 'actlog_witness_evidence_total') > 0) r.problems.push(`${kind}: the witness kept evidence of a refusal`)
  } finally {
    stop = true
    for (const c of children) await c.kill9()
  }
}

/** Runs the full-disk campaign on one filesystem kind. Throws when the filesystem cannot be mounted. */
export async function runFullDisk(kind: 'tmpfs' | 'ext4', log: (l: string) => void = () => {}): Promise<FullDiskResult> {
  const work = mkdtempSync(join(tmpdir(), `actlog-full-${kind}-`))
  const r: FullDiskResult = {
    fs: kind,
    acknowledged: 0,
    exitCode: null,
    exitMessage: '',
    restartOnFull: '',
    lost: 0,
    inconsistencies: 0,
    witnessFailures: 0,
    witnessCaughtUp: false,
    witnessWentBack: false,
    readOnlyMessage: '',
    readOnlyIntact: false,
    problems: [],
  }
  const mnt = join(work, 'mnt')
  const unmount = mountSmall(kind, mnt, work)
  try {
    log(`${kind}: mounted at ${mnt} (${Math.round(freeBytes(mnt) / 1024)} KiB free)`)
    await logPhase(kind, mnt, work, r)
    log(`${kind}: log: ${r.acknowledged} acknowledged, exit ${r.exitCode}; on the full disk: ${r.restartOnFull}; lost ${r.lost}, inconsistencies ${r.inconsistencies}`)
    rmSync(join(mnt, 'log-data'), { recursive: true, force: true })
    await witnessPhase(kind, mnt, work, r)
    log(`${kind}: witness: ${r.witnessFailures} failed writes answered without a cosignature; caught up: ${r.witnessCaughtUp}`)
  } finally {
    unmount()
    rmSync(work, { recursive: true, force: true })
  }
  return r
}

/** Returns why this machine cannot mount a small filesystem, or undefined when it can. */
export function cannotMount(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root'
  const probe = mkdtempSync(join(tmpdir(), 'actlog-mount-probe-'))
  try {
    sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe])
    sh('umount', [probe])
    return undefined
  } catch (e) {
    return `mount refused: ${(e as { stderr?: string }).stderr?.trim() || String(e)}`
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { fs: { type: 'string', default: 'both' }, json: { type: 'boolean', default: false } } })
  const why = cannotMount()
  if (why !== undefined) {
    console.log(`full-disk: NOT RUN on this machine (${why}). A real small filesystem needs root and a kernel that allows mounting;`)
    console.log('the injected-ENOSPC tests of npm test still cover the storage layer (test/unit/server/enospc.test.ts, test/e2e/storage-faults.e2e.test.ts).')
    return
  }
  const kinds = values.fs === 'both' ? (['tmpfs', 'ext4'] as const) : [values.fs as 'tmpfs' | 'ext4']
  const results: FullDiskResult[] = []
  for (const kind of kinds) {
    try {
      results.push(await runFullDisk(kind, (l) => console.log(l)))
    } catch (e) {
      console.log(`${kind}: NOT RUN: cannot mount it here (${(e as { stderr?: string }).stderr?.trim() || String(e)})`)
    }
  }
  for (const r of results) {
    console.log(`\n${r.fs}:`)
    console.log(`  log: ${r.acknowledged} entries acknowledged before the disk filled; exit status ${r.exitCode}`)
    console.log(`    said: ${r.exitMessage}`)
    console.log(`    started on the full disk: ${r.restartOnFull}`)
    console.log(`    after freeing space: lost ${r.lost}, inconsistencies ${r.inconsistencies}`)
    console.log(`  witness: ${r.witnessFailures} writes failed on the full disk (no cosignature given); caught up after freeing space: ${r.witnessCaughtUp}; size went down: ${r.witnessWentBack}`)
    console.log(`  read-only data directory: ${r.readOnlyMessage}`)
    console.log(`    data intact afterwards: ${r.readOnlyIntact}`)
    for (const p of r.problems) console.log(`  PROBLEM: ${p}`)
  }
  if (values.json) console.log(JSON.stringify(results))
  const ok = results.every((r) => r.problems.length === 0)
  console.log(ok ? 'PASS' : 'FAIL')
  process.exitCode = ok ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
