/**
 * Storage faults in real processes over real LevelDB: the log and the
 * witness run as `actlog serve|witness` through test/helpers/faulty-actlog.js,
 * which wraps the store they open in a FaultyKv (ACTLOG_TEST_FAULTS); every
 * layer above the disk is production code, the CLI's exit status included.
 *
 * - A write of unknown outcome (after persisting, or LevelDB's own I/O error
 *   on a full disk): the log exits 70 saying why, and a restart serves every
 *   acknowledged entry, consistent with every checkpoint handed out.
 * - A write that failed before persisting: that batch is answered 503 with
 *   Retry-After, nothing acknowledged, the log goes on.
 * - A full disk (every write fails, nothing written): 503s, state unchanged,
 *   and the operator is told the disk is full.
 * - The witness: a failed write answers 500/503 with no cosignature, and its
 *   cosigned size never goes down, across a kill -9 too.
 * - An unwritable data directory: a clear error and no damage to the data.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { bytesEqual, leafHash, parseCheckpoint, parseNote, toHex } from '../../src/core/index.ts'
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
} from '../../scripts/reliability-kit.ts'

const LAUNCHER = fileURLToPath(new URL('../helpers/faulty-actlog.js', import.meta.url))
const dirs: string[] = []
const children: Child[] = []

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'actlog-faults-'))
  dirs.push(d)
  return d
}

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) await c.kill9()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function faultyLog(net: Network, faults: string): Promise<Child> {
  const c = await startLog(net, { entry: LAUNCHER, env: { ACTLOG_TEST_FAULTS: faults } })
  children.push(c)
  return c
}

async function plainLog(net: Network): Promise<Child> {
  const c = await startLog(net)
  children.push(c)
  return c
}

/** Checks that the running log serves every acknowledged entry and is consistent with every checkpoint handed out. */
async function expectIntact(net: Network, acked: Map<number, Uint8Array>, checkpoints: string[]): Promise<number> {
  const health = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }
  const tiles = new TileClient(net.logUrl)
  const { entries, root } = await tiles.tree(health.treeSize)
  for (const [index, e] of acked) {
    expect(index, `acknowledged index ${index} is beyond the tree of ${health.treeSize}`).toBeLessThan(health.treeSize)
    expect(bytesEqual(entries[index]!, e), `index ${index}`).toBe(true)
  }
  expect(new Set(entries.map((e) => toHex(leafHash(e)))).size, 'no statement twice').toBe(entries.length)
  const cache = new Map()
  for (const note of new Set(checkpoints)) {
    const c = await openCheckpoint(note)
    expect(await tiles.consistent(c, health.treeSize, root, cache), `checkpoint ${c.treeSize} consistent with the tree of ${health.treeSize}`).toBe(true)
  }
  return health.treeSize
}

describe('log process with storage faults over LevelDB', () => {
  it('exits 70 on a write of unknown outcome at each write point; each restart serves everything acknowledged', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 0, batch: { maxEntries: 16, maxDelayMs: 2 } })
    const actor = new Actor('after')
    const acked = new Map<number, Uint8Array>()
    const checkpoints: string[] = []
    let unanswered: Uint8Array[] = []
    // The first write of a new log is its empty checkpoint, at startup: it fails before serving.
    const first = await runActlog(['serve', '--config', net.logConfig], { entry: LAUNCHER, env: { ACTLOG_TEST_FAULTS: '1:after' } })
    expect(first.code).toBe(1)
    expect(first.stderr).toMatch(/simulated write failure after batch 1 persisted/)
    let startAt = 0
    for (const n of [1, 2, 3, 5, 8]) {
      const log = await faultyLog(net, `${n}:after`)
      await expectIntact(net, acked, checkpoints)
      // What was sent but never answered is either in the log or not: a
      // client sends it again and gets one index for it either way. Those
      // resubmissions are batch writes too, so the fault may strike here.
      for (const e of unanswered) {
        const res = await fetch(`${net.logUrl}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit }).catch(() => undefined)
        if (res?.status === 200) {
          const body = (await res.json()) as { index: number; checkpoint: string }
          acked.set(body.index, e)
          checkpoints.push(body.checkpoint)
        }
      }
      const r = await submitLoad(net.logUrl, actor, { concurrency: 8, count: 400, startAt })
      startAt += 400
      for (const [i, e] of r.acked) acked.set(i, e)
      checkpoints.push(...r.checkpoints)
      unanswered = r.unanswered
      const exit = await log.exited
      expect(exit.code, log.output()).toBe(70)
      expect(log.output()).toMatch(/the log stopped: a storage write failed and the disk state is unknown \(StoreWriteError: simulated write failure after batch \d+ persisted\)\. Restart it: recovery reads back what is on disk\./)
    }
    const log = await plainLog(net)
    for (const e of unanswered) {
      const res = await fetch(`${net.logUrl}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { index: number; checkpoint: string }
      acked.set(body.index, e)
    }
    const size = await expectIntact(net, acked, checkpoints)
    expect(acked.size).toBeGreaterThan(20)
    console.log(`faults: 5 exits at writes 1, 2, 3, 5 and 8 after persisting; ${acked.size} acknowledged, all served after restarts (tree ${size})`)
    expect(await log.stop()).toBe(0)
  })

  it('answers 503 with Retry-After to a batch whose write failed before persisting, and goes on', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 0, batch: { maxEntries: 16, maxDelayMs: 2 } })
    const log = await faultyLog(net, '2:before,3:before,6:before')
    const r = await submitLoad(net.logUrl, new Actor('before'), { concurrency: 4, count: 200 })
    expect(r.statuses['503']).toBeGreaterThanOrEqual(3)
    expect(JSON.parse(r.samples['503']!)).toEqual({ code: 'OVERLOADED', message: 'the log could not write this batch; retry shortly' })
    expect(log.proc.exitCode).toBeNull()
    // Sent again, the refused ones are sequenced, once each.
    for (const e of r.unanswered) {
      const res = await fetch(`${net.logUrl}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
      expect(res.status).toBe(200)
      r.acked.set(((await res.json()) as { index: number }).index, e)
    }
    expect(r.acked.size).toBe(200)
    expect(await expectIntact(net, r.acked, r.checkpoints)).toBe(200)
    await log.kill9()
    await plainLog(net)
    expect(await expectIntact(net, r.acked, r.checkpoints)).toBe(200)
  })

  it('on a full disk as LevelDB reports it (an I/O error, outcome unknown), exits 70 naming the cause, and recovers on restart', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 0, batch: { maxEntries: 16, maxDelayMs: 2 } })
    const log = await faultyLog(net, '4:io-enospc')
    const r = await submitLoad(net.logUrl, new Actor('io'), { concurrency: 4, count: 300 })
    expect((await log.exited).code).toBe(70)
    expect(log.output()).toMatch(/the log stopped: a storage write failed .*\(LEVEL_IO_ERROR\): IO error: .*No space left on device\)\. Restart it/)
    await plainLog(net)
    expect(await expectIntact(net, r.acked, r.checkpoints)).toBe(r.acked.size)
    expect(r.acked.size).toBeGreaterThan(0)
  })

  it('on a full disk where nothing is written, answers 503 with Retry-After, keeps its state, and tells the operator', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 0, batch: { maxEntries: 16, maxDelayMs: 2 } })
    const log = await faultyLog(net, '5:enospc')
    const before = await submitLoad(net.logUrl, new Actor('full'), { concurrency: 1, count: 3 })
    expect(before.acked.size).toBe(3)
    const checkpoint = await (await fetch(`${net.logUrl}/checkpoint`)).text()
    const r = await submitLoad(net.logUrl, new Actor('full'), { concurrency: 4, count: 40, startAt: 100 })
    expect(r.statuses).toEqual({ '503': 40 })
    const res = await fetch(`${net.logUrl}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: r.unanswered[0]! as BodyInit })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(await (await fetch(`${net.logUrl}/checkpoint`)).text()).toBe(checkpoint)
    expect(log.proc.exitCode).toBeNull()
    // The operator's output says what is wrong and what to do, once per
    // burst of failures rather than once per batch.
    const out = log.output()
    expect(out).toMatch(/no space left on device/i)
    expect(out).toMatch(/nothing was written/)
    expect(out.match(/no space left on device/gi)!.length).toBeLessThan(10)
    expect(await log.stop()).toBe(0)
    await plainLog(net)
    expect(await expectIntact(net, before.acked, before.checkpoints)).toBe(3)
  })
})

describe('witnessed log process with storage faults over LevelDB', () => {
  it('fails batches and witnessed-checkpoint writes alike before persisting at writes 2 to 9, keeps publishing, and loses nothing', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 2, batch: { maxEntries: 16, maxDelayMs: 2 }, witnessWaitSeconds: 10 })
    for (const i of [0, 1]) children.push(await startWitness(net, i))
    // A new witnessed log writes its empty checkpoint (1), then the witnessed
    // checkpoint once the witnesses cosigned it (2), then batches and
    // witnessed checkpoints interleaved.
    const log = await faultyLog(net, [2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${n}:before`).join(','))
    const actor = new Actor('witnessed-faults')
    const acked = new Map<number, Uint8Array>()
    const checkpoints: string[] = []
    let pending: Uint8Array[] = []
    for (let round = 0; round < 12; round++) {
      const r = await submitLoad(net.logUrl, actor, { concurrency: 2, count: 2, startAt: round * 2, query: '?wait=witnessed' })
      for (const [i, e] of r.acked) acked.set(i, e)
      checkpoints.push(...r.checkpoints)
      pending.push(...r.unanswered)
    }
    // What a failed batch refused, sent again.
    for (let attempt = 0; attempt < 3 && pending.length > 0; attempt++) {
      const again = pending
      pending = []
      for (const e of again) {
        const res = await fetch(`${net.logUrl}/add?wait=witnessed`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
        if (res.status === 200) acked.set(((await res.json()) as { index: number }).index, e)
        else pending.push(e)
      }
    }
    expect(pending).toEqual([])
    expect(acked.size).toBe(24)
    expect(log.proc.exitCode).toBeNull()
    expect(log.output()).toMatch(/could not store the witnessed checkpoint \d+: simulated write failure before batch \d+ persisted/)
    expect(log.output()).toMatch(/storage write failed, nothing was written \(simulated write failure before batch \d+ persisted\)/)
    // The published checkpoint covers everything, cosigned by both.
    const published = await (await fetch(`${net.logUrl}/checkpoint`)).text()
    expect(parseCheckpoint(parseNote(published).text).treeSize).toBe(24)
    expect(parseNote(published).signatures.length).toBe(3)
    await expectIntact(net, acked, [...checkpoints, published])
    // After a kill -9 it serves what it stored: consistent, possibly older, and witnessed again once asked.
    await log.kill9()
    await plainLog(net)
    await expectIntact(net, acked, [...checkpoints, published])
    const r = await submitLoad(net.logUrl, actor, { concurrency: 1, count: 1, startAt: 500, query: '?wait=witnessed' })
    expect(r.acked.size).toBe(1)
  })
})

describe('witness process with storage faults over LevelDB', () => {
  it('answers a failed write with 500 or 503 and no cosignature; its cosigned size never goes down, across kill -9', async () => {
    const net = await writeNetwork(tempDir(), { witnesses: 2, batch: { maxEntries: 16, maxDelayMs: 2 }, witnessWaitSeconds: 10 })
    let w1 = await startWitness(net, 0, { entry: LAUNCHER, env: { ACTLOG_TEST_FAULTS: '2:after,4:before,6:after,7:before' } })
    children.push(w1)
    const w2 = await startWitness(net, 1)
    children.push(w2)
    const log = await plainLog(net)
    const sizes: number[] = []
    let stop = false
    const monitor = (async () => {
      while (!stop) {
        try {
          const res = await fetch(`${net.witnessUrls[0]}${MONITOR_PATH}`)
          if (res.status === 200) sizes.push(parseCheckpoint(parseNote(await res.text()).text).treeSize)
        } catch {
          // Restarting.
        }
        await sleep(20)
      }
    })()
    const actor = new Actor('witness-faults')
    // Sequential witnessed submissions: each one is a new checkpoint to cosign.
    let acked = 0
    for (let i = 0; i < 12; i++) {
      const r = await submitLoad(net.logUrl, actor, { concurrency: 2, count: 2, startAt: i * 2, query: '?wait=witnessed' })
      acked += r.acked.size
    }
    expect(acked).toBe(24)
    const metrics = await (await fetch(`${net.witnessUrls[0]}/metrics`)).text()
    expect(metricValue(metrics, 'actlog_witness_http_responses_total', { status: '500' })).toBe(2)
    expect(metricValue(metrics, 'actlog_witness_http_responses_total', { status: '503' })).toBe(2)
    expect(metricValue(metrics, 'actlog_witness_http_responses_total', { status: '422' })).toBe(0)
    expect(metricValue(metrics, 'actlog_witness_evidence_total')).toBe(0)
    const beforeKill = Math.max(...sizes)
    await w1.kill9()
    w1 = await startWitness(net, 0)
    children.push(w1)
    await sleep(200)
    const after = parseCheckpoint(parseNote(await (await fetch(`${net.witnessUrls[0]}${MONITOR_PATH}`)).text()).text).treeSize
    expect(after).toBeGreaterThanOrEqual(beforeKill)
    const r = await submitLoad(net.logUrl, actor, { concurrency: 1, count: 1, startAt: 1000, query: '?wait=witnessed' })
    expect(r.acked.size).toBe(1)
    stop = true
    await monitor
    // Never a smaller tree after a larger one.
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!, `cosigned size ${i}`).toBeGreaterThanOrEqual(sizes[i - 1]!)
    expect(sizes.length).toBeGreaterThan(5)
    await log.stop()
  })
})

describe('unwritable data directory', () => {
  // Root ignores file modes, so as root the processes run as nobody.
  const asOther: { uid?: number; gid?: number } = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
  const own = (path: string): void => {
    if (asOther.uid !== undefined) chownSync(path, asOther.uid, asOther.gid!)
  }

  it('refuses to start with an error naming the directory, and leaves the data as it was', async () => {
    const dir = tempDir()
    chmodSync(dir, 0o755)
    const net = await writeNetwork(dir, { witnesses: 0 })
    for (const f of ['log.key', 'log.json', 'issuers.txt']) own(join(dir, f))
    // A log with data, written by its rightful owner (root, here).
    const log = await plainLog(net)
    const r = await submitLoad(net.logUrl, new Actor('ro'), { concurrency: 2, count: 20 })
    const checkpoint = await (await fetch(`${net.logUrl}/checkpoint`)).text()
    // A second process on the same directory: one line saying so.
    const second = await runActlog(['serve', '--config', net.logConfig])
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/^actlog: data directory \S+ is in use by another actlog process \(LevelDB lock held\); stop it or choose another --data dir\n$/)
    expect(await log.stop()).toBe(0)
    chmodSync(net.logDataDir, 0o555)
    const existing = await runActlog(['serve', '--config', net.logConfig], asOther)
    expect(existing.code).toBe(1)
    // One line a person can act on: what failed, where, and what to do; no stack trace.
    expect(existing.stderr).toBe(
      `actlog: cannot open LevelDB in ${net.logDataDir}: IO error: ${net.logDataDir}/LOCK: Permission denied; the user running actlog must be able to write to this directory\n`,
    )
    // A data directory that cannot be created.
    const parent = join(dir, 'locked')
    mkdirSync(parent, { mode: 0o555 })
    const cfg = join(dir, 'log-new.json')
    const { writeFileSync, readFileSync } = await import('node:fs')
    writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(net.logConfig, 'utf8')), dataDir: join(parent, 'data') }))
    own(cfg)
    const missing = await runActlog(['serve', '--config', cfg], asOther)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      `actlog: cannot create the data directory ${join(parent, 'data')}: EACCES: permission denied, mkdir '${join(parent, 'data')}'; the user running actlog must be able to write to this directory\n`,
    )
    console.log(`unwritable data directory, as the CLI reports it:\n${existing.stderr.trim()}\n${missing.stderr.trim()}`)
    // Nothing was damaged: the owner starts the log on the same tree.
    chmodSync(net.logDataDir, 0o755)
    const again = await plainLog(net)
    expect(await (await fetch(`${net.logUrl}/checkpoint`)).text()).toBe(checkpoint)
    expect(await expectIntact(net, r.acked, r.checkpoints)).toBe(20)
    await again.stop()
  })
})

