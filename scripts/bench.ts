/**
 * actlog benchmark: `npm run bench` (about 5 minutes), `-- --quick` (under a
 * minute), `-- --entries 1000000` (a large-log run).
 *
 * Everything runs on this machine: the load generator shares the cores with
 * the servers, as DESIGN.md specifies. Each figure is printed with its ratio
 * to a limit measured in the same run on the same machine (raw LevelDB
 * synced-batch writes of the same bytes, a bare Hono POST endpoint, raw
 * Ed25519 verification). Results go to the terminal and to
 * bench-results.json. Nothing here is asserted: tests never time anything.
 */
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import {
  encodeCbor,
  parseCheckpoint,
  parseNote,
  parseStatement,
  parsePolicy,
  parseTrustedIssuers,
  setEd25519Backend,
  usePlatformEd25519,
  useSha256,
  sigStructure,
  verifyBatch,
  verifyNoble,
  webCryptoEd25519Available,
} from '../src/core/index.ts'
import { LevelKv } from '../src/storage/index.ts'
import { ed25519Workers, nodeSha256 } from '../src/server/main.ts'
import { createVerifyCache, verifyActionProof } from '../src/verify/index.ts'
import { audit } from '../src/audit/index.ts'
import { BENCH_ISSUERS_FILE, generateStatements } from './bench-statements.ts'
import { ACTLOG, launch, writeNetwork, type Child } from './bench-network.ts'
import { Client, closedLoop, openLoop, percentile, type Sent } from './load.ts'

const args = process.argv.slice(2)
const QUICK = args.includes('--quick')
const ENTRIES = (() => {
  const i = args.indexOf('--entries')
  return i >= 0 ? Number(args[i + 1]) : undefined
})()
const OUT = (() => {
  const i = args.indexOf('--out')
  return i >= 0 ? args[i + 1]! : fileURLToPath(new URL('../bench-results.json', import.meta.url))
})()
if (args.includes('--help')) {
  console.log('usage: npx tsx scripts/bench.ts [--quick] [--entries N] [--out bench-results.json]')
  process.exit(0)
}
if (ENTRIES !== undefined && !(Number.isSafeInteger(ENTRIES) && ENTRIES > 0)) throw new Error('--entries takes a positive integer')

/** One measured figure. */
interface Figure {
  group: string
  name: string
  value: number
  unit: string
  /** The limit it is compared with, measured in this run. */
  limit?: string
  ratio?: number
  /** The DESIGN.md target, for the figures that have one. */
  target?: string
  note?: string
  /** Whether the figure meets its target. */
  met?: boolean
}

const LEVELDB = 'LevelDB synced batches of 256 statements'
const BARE = 'bare Hono POST (64 clients, same load generator)'
const NODE_VERIFY = 'Ed25519 verify, node:crypto (256 in flight)'
const VERIFY_CPU = 'Ed25519 verify, node:crypto: CPU per verification (one thread)'
const COMMIT = 'LevelDB synced batch of 256 statements: commit p50'
const BARE_P50 = 'bare Hono POST: latency p50'
const BARE_P99 = 'bare Hono POST: latency p99'
const BARE_RSS = 'bare Hono server: peak RSS'
const ENTRY_BYTES = 'statement size (the entry itself)'
const figures: Figure[] = []
const limits = new Map<string, number>()

function fig(f: Figure): void {
  if (f.limit !== undefined && limits.has(f.limit)) f.ratio = f.value / limits.get(f.limit)!
  const t = f.target === undefined ? null : /^(>=|<=) ([\d,]+)/.exec(f.target)
  if (t !== null) {
    const want = Number(t[2]!.replaceAll(',', ''))
    f.met = t[1] === '>=' ? f.value >= want : f.value <= want
  }
  figures.push(f)
  const ratio = f.ratio === undefined ? '' : f.ratio >= 2 ? `  (${f.ratio.toFixed(1)}× ${f.limit})` : `  (${(f.ratio * 100).toFixed(1)}% of ${f.limit})`
  const target = f.target === undefined ? '' : `  [target ${f.target}: ${f.met === true ? 'met' : 'NOT met'}]`
  console.log(`  ${f.name.padEnd(64)} ${fmt(f.value).padStart(10)} ${f.unit}${ratio}${target}`)
  if (f.note !== undefined) console.log(`    ${f.note}`)
}

function limit(name: string, value: number, unit: string): void {
  limits.set(name, value)
  figures.push({ group: 'limits', name, value, unit })
  console.log(`  ${name.padEnd(64)} ${fmt(value).padStart(10)} ${unit}`)
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2)
}

function section(title: string): void {
  console.log(`\n${title}`)
}

function dirBytes(dir: string): number {
  let n = 0
  for (const f of readdirSync(dir)) {
    const s = statSync(join(dir, f))
    n += s.isDirectory() ? dirBytes(join(dir, f)) : s.size
  }
  return n
}

const scale = (full: number, quick: number): number => (QUICK ? quick : full)
const work = mkdtempSync(join(tmpdir(), 'actlog-bench-'))
const children: Child[] = []
process.on('exit', () => {
  for (const c of children) c.proc.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
})

const started = performance.now()
console.log(`actlog benchmark${QUICK ? ' (quick)' : ''}${ENTRIES !== undefined ? ` (${ENTRIES} entries)` : ''}`)
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, platform: `${process.platform} ${process.arch}` }
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`)

// Statements first: every timed region below only sends, checks or reads them.
section('preparing signed statements (not timed)')
const NOW = Date.now()
const writeCount = scale(60_000, 12_000)
const rateCount = scale(50_000, 10_000) // each of three open-loop runs
const batchCount = scale(60_000, 12_000)
const t0 = performance.now()
const statements = await generateStatements(writeCount + 3 * rateCount + batchCount, { time: NOW, salt: `run ${NOW}` })
const meanSize = Math.round(statements.reduce((n, e) => n + e.length, 0) / statements.length)
console.log(`  ${statements.length.toLocaleString('en-US')} statements of ${meanSize} bytes on average in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

// ---------------------------------------------------------------- limits
section('limits on this machine (same run)')
limit(ENTRY_BYTES, meanSize, 'bytes')
{
  const s = parseStatement(statements[0]!)
  const msg = sigStructure(s.protectedHeader, s.payload)
  const n = scale(40_000, 10_000)
  const items = Array.from({ length: n }, () => ({ publicKey: s.kid, message: msg, signature: s.signature }))
  if (await webCryptoEd25519Available()) {
    setEd25519Backend('webcrypto')
    let t = performance.now()
    await verifyBatch(items.slice(0, 2000))
    t = performance.now()
    await verifyBatch(items, 256)
    limit('Ed25519 verify, WebCrypto (256 in flight)', n / ((performance.now() - t) / 1000), 'verifications/s')
  }
  setEd25519Backend('noble')
  let t = performance.now()
  const nn = scale(600, 200)
  for (let i = 0; i < nn; i++) verifyNoble(s.kid, msg, s.signature)
  limit('Ed25519 verify, noble (one thread)', nn / ((performance.now() - t) / 1000), 'verifications/s')
  setEd25519Backend('auto')
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), s.kid]), format: 'der', type: 'spki' })
  t = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next++ < n) await new Promise<void>((r) => nodeVerify(null, msg, key, s.signature, () => r()))
    }),
  )
  limit(NODE_VERIFY, n / ((performance.now() - t) / 1000), 'verifications/s')
  // What one verification costs a core: the floor of a statement's CPU cost.
  const m = scale(4000, 1000)
  t = performance.now()
  for (let i = 0; i < m; i++) nodeVerify(null, msg, key, s.signature)
  limit(VERIFY_CPU, ((performance.now() - t) / m) * 1000, 'µs')
}
{
  const kv = await LevelKv.open(join(work, 'raw-leveldb'))
  const batch = 256
  const rounds = scale(120, 40)
  let key = 0
  const commits: number[] = []
  const t = performance.now()
  for (let r = 0; r < rounds; r++) {
    const ops = statements.slice(0, batch).map((value) => {
      const k = Buffer.alloc(9)
      k[0] = 3
      k.writeBigUInt64BE(BigInt(key++), 1)
      return { type: 'put' as const, key: new Uint8Array(k), value }
    })
    const c0 = performance.now()
    await kv.batch(ops)
    commits.push(performance.now() - c0)
  }
  limit(LEVELDB, (rounds * batch) / ((performance.now() - t) / 1000), 'entries/s')
  commits.sort((a, b) => a - b)
  limit(COMMIT, percentile(commits, 50), 'ms')
  await kv.close()
}
{
  const bare = await launch(fileURLToPath(new URL('./bench-bare.ts', import.meta.url)), [], {}, ['--import', 'tsx'])
  children.push(bare)
  const c = new Client(bare.url)
  const body = statements[0]!
  const n = scale(40_000, 10_000)
  await closedLoop(2000, 64, async () => void (await c.request('POST', '/add', body, { 'content-type': 'application/cose' })))
  const lat: number[] = []
  const s = await closedLoop(n, 64, async () => void lat.push((await c.request('POST', '/add', body, { 'content-type': 'application/cose' })).ms))
  limit(BARE, n / s, 'requests/s')
  lat.sort((a, b) => a - b)
  limit(BARE_P50, percentile(lat, 50), 'ms')
  limit(BARE_P99, percentile(lat, 99), 'ms')
  limit(BARE_RSS, bare.peakRss() / 1e6, 'MB')
  c.close()
  await bare.stop()
  children.splice(children.indexOf(bare), 1)
}

// ------------------------------------------------------------ write path
section('write path: a real log and two real witnesses (2-of-2 quorum)')
// The log runs with its default configuration, as a user would start it.
const net = await writeNetwork(join(work, 'net'), BENCH_ISSUERS_FILE)
const witnesses: Child[] = []
for (const w of net.witnessConfigs) witnesses.push(await launch(ACTLOG, ['witness', '--config', w]))
children.push(...witnesses)
const log = await launch(ACTLOG, ['serve', '--config', net.logConfig])
children.push(log)
const client = new Client(log.url, 1024)

interface Waiting {
  index: number
  ackAt: number
}

/** Follows /checkpoint and records, per acknowledged entry, when the published tree first covered it. */
class WitnessWatch {
  size = -1
  #stop = false
  #waiting: Waiting[] = []
  readonly delays: number[] = []
  async run(): Promise<void> {
    while (!this.#stop) {
      const r = await client.request('GET', '/checkpoint').catch(() => undefined)
      if (r?.status === 200) {
        const size = parseCheckpoint(parseNote(r.body.toString('utf8')).text).treeSize
        if (size > this.size) {
          this.size = size
          const still: Waiting[] = []
          for (const w of this.#waiting) (w.index < size ? this.delays.push(r.at - w.ackAt) : still.push(w))
          this.#waiting = still
        }
      }
      await new Promise((res) => setTimeout(res, 5))
    }
  }
  acked(index: number, at: number): void {
    if (index < this.size) this.delays.push(0)
    else this.#waiting.push({ index, ackAt: at })
  }
  stop(): void {
    this.#stop = true
  }
}

/** CPU seconds used so far by the log, the witnesses and this load generator (Linux /proc). */
function cpuNow(): { log: number; witnesses: number; generator: number } {
  const of = (pid: number | undefined): number => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return (Number(f[11]) + Number(f[12])) / 100
    } catch {
      return NaN
    }
  }
  return { log: of(log.proc.pid), witnesses: of(witnesses[0]!.proc.pid) + of(witnesses[1]!.proc.pid), generator: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 }
}

/** Prints and records the CPU time each process spent per acknowledged statement since `before`. */
function cpuFigures(label: string, before: ReturnType<typeof cpuNow>, acked: number): void {
  const now = cpuNow()
  const per = (a: number, b: number): number => ((a - b) / acked) * 1e6
  fig({ group: 'write', name: `${label}: log CPU per statement (all threads)`, value: per(now.log, before.log), unit: 'µs', limit: VERIFY_CPU })
  fig({ group: 'write', name: `${label}: witnesses + load generator CPU per statement`, value: per(now.witnesses, before.witnesses) + per(now.generator, before.generator), unit: 'µs', limit: VERIFY_CPU })
}

let cursor = 0
const take = (n: number): Uint8Array[] => statements.slice(cursor, (cursor += n))
const RATE = 5000
const BATCH = 128
const ADD = 'POST /add'
let batchRate = 0
{
  const entries = take(writeCount)
  const lat: number[] = []
  let refused = 0
  const before = cpuNow()
  const s = await closedLoop(entries.length, 256, async (i) => {
    const r = await client.request('POST', '/add', entries[i], { 'content-type': 'application/cose' })
    if (r.status === 200) lat.push(r.ms)
    else refused++
  })
  lat.sort((a, b) => a - b)
  const rate = lat.length / s
  fig({ group: 'write', name: `${ADD}, 256 clients: acknowledged (durable)`, value: rate, unit: 'statements/s', limit: LEVELDB, target: '>= 5,000/s', note: `refused (503): ${refused}` })
  fig({ group: 'write', name: `${ADD}, 256 clients: requests against the bare Hono POST rate`, value: rate, unit: 'requests/s', limit: BARE })
  fig({ group: 'write', name: `${ADD}, 256 clients: latency p50`, value: percentile(lat, 50), unit: 'ms', limit: COMMIT })
  fig({ group: 'write', name: `${ADD}, 256 clients: latency p99`, value: percentile(lat, 99), unit: 'ms', limit: BARE_P99 })
  cpuFigures(`${ADD}, 256 clients`, before, lat.length)
}
{
  const entries = take(batchCount)
  const bodies: Uint8Array[] = []
  for (let i = 0; i < entries.length; i += BATCH) bodies.push(encodeCbor(entries.slice(i, i + BATCH)))
  const lat: number[] = []
  let acked = 0
  const before = cpuNow()
  const s = await closedLoop(bodies.length, 8, async (i) => {
    const r = await client.request('POST', '/add-batch', bodies[i], { 'content-type': 'application/cbor' })
    if (r.status !== 200) return
    lat.push(r.ms)
    acked += (JSON.parse(r.body.toString('utf8')) as { results: { index?: number }[] }).results.filter((x) => x.index !== undefined).length
  })
  lat.sort((a, b) => a - b)
  batchRate = acked / s
  fig({ group: 'write', name: `POST /add-batch (${BATCH} per request, 8 clients): acknowledged`, value: batchRate, unit: 'statements/s', limit: LEVELDB, target: '>= 5,000/s' })
  fig({ group: 'write', name: 'POST /add-batch, 8 clients: request latency p99', value: percentile(lat, 99), unit: 'ms', limit: BARE_P99 })
  cpuFigures('POST /add-batch, 8 clients', before, acked)
}

/**
 * Offers `count` statements at RATE per second (open loop) in requests of
 * `per` statements; records each statement's latency from when it was due,
 * and the time from its acknowledgement to the first checkpoint meeting the
 * witness quorum.
 */
async function atRate(label: string, count: number, per: number, rate: number, target: boolean): Promise<void> {
  const entries = take(count)
  const bodies: Uint8Array[] = []
  for (let i = 0; i < entries.length; i += per) bodies.push(per === 1 ? entries[i]! : encodeCbor(entries.slice(i, i + per)))
  const watch = new WitnessWatch()
  const watching = watch.run()
  const lat: number[] = []
  let refused = 0
  const before = cpuNow()
  let failed = 0
  const s = await openLoop(bodies.length, rate / per, async (i, due) => {
    let r: Sent
    try {
      r =
        per === 1
          ? await client.request('POST', '/add', bodies[i], { 'content-type': 'application/cose' })
          : await client.request('POST', '/add-batch', bodies[i], { 'content-type': 'application/cbor' })
    } catch {
      failed += per
      return
    }
    if (r.status !== 200) {
      refused += per
      return
    }
    const results = per === 1 ? [JSON.parse(r.body.toString('utf8')) as { index?: number }] : (JSON.parse(r.body.toString('utf8')) as { results: { index?: number }[] }).results
    for (const x of results) {
      if (x.index === undefined) {
        refused++
        continue
      }
      lat.push(r.at - due)
      watch.acked(x.index, r.at)
    }
  })
  const end = performance.now() + 15_000
  while (watch.delays.length < lat.length && performance.now() < end) await new Promise((r) => setTimeout(r, 20))
  watch.stop()
  await watching
  lat.sort((a, b) => a - b)
  const d = watch.delays.sort((a, b) => a - b)
  // The rate is over the whole run, the last answers included, so it stays
  // a little below the offered rate even when the log keeps up; the target
  // is judged on what share of the offered statements was acknowledged.
  fig({ group: 'write', name: `${label} offered at ${rate}/s: acknowledged`, value: lat.length / s, unit: 'statements/s', limit: LEVELDB, note: `refused: ${refused}; failed (connection errors): ${failed}` })
  fig({ group: 'write', name: `${label} offered at ${rate}/s: share of the offered statements acknowledged`, value: (100 * lat.length) / count, unit: '%', ...(target ? { target: '>= 100 %' } : {}) })
  fig({ group: 'write', name: `${label} at ${rate}/s: latency p50 (from when due)`, value: percentile(lat, 50), unit: 'ms', limit: COMMIT })
  fig({ group: 'write', name: `${label} at ${rate}/s: latency p95`, value: percentile(lat, 95), unit: 'ms', limit: BARE_P99 })
  fig({ group: 'write', name: `${label} at ${rate}/s: latency p99`, value: percentile(lat, 99), unit: 'ms', limit: BARE_P99, ...(target ? { target: '<= 250 ms' } : {}) })
  fig({ group: 'write', name: `${label}: ack -> first quorum-cosigned checkpoint p50`, value: percentile(d, 50), unit: 'ms', limit: COMMIT, ...(target ? { target: '<= 500 ms' } : {}) })
  fig({ group: 'write', name: `${label}: ack -> first quorum-cosigned checkpoint p99`, value: percentile(d, 99), unit: 'ms', limit: COMMIT })
  cpuFigures(`${label} at ${rate}/s`, before, lat.length)
}

await atRate(`POST /add-batch (${BATCH / 4} per request)`, rateCount, BATCH / 4, RATE, true)
await atRate(ADD, rateCount, 1, RATE, true)
// The target rate is above what this machine sequences (the closed-loop rate
// above), so its latencies measure a growing queue. The same load at 80 % of
// the measured closed-loop rate shows the latency of a log that keeps up.
await atRate(`POST /add-batch (${BATCH / 4} per request)`, rateCount, BATCH / 4, Math.floor((0.8 * batchRate) / 100) * 100, false)
const treeSize = (JSON.parse((await client.request('GET', '/healthz')).body.toString('utf8')) as { treeSize: number }).treeSize

// The pre-signed statements are all sent: let them go, so that the offline
// phases below (verification and the audit, in this process) do not carry
// the benchmark's own 270,000 statements in their heap.
statements.length = 0

// ------------------------------------------------------------- read path
section('read path')
{
  const n = scale(20_000, 5_000)
  const s = await closedLoop(n, 64, async (i) => void (await client.request('GET', `/proof/${(i * 7919) % treeSize}`)))
  fig({ group: 'read', name: 'GET /proof/<index> (64 clients)', value: n / s, unit: 'proofs/s', limit: 'bare Hono POST (64 clients, same load generator)' })
  const full = Math.floor(treeSize / 256)
  const s2 = await closedLoop(n, 64, async (i) => {
    const t = (i * 31) % full
    const path = i % 2 === 0 ? `/tile/0/${String(t % 1000).padStart(3, '0')}` : `/tile/entries/${String(t % 1000).padStart(3, '0')}`
    await client.request('GET', t >= 1000 ? path.replace(/\/(\d{3})$/, (_, x: string) => `/x${String(Math.floor(t / 1000)).padStart(3, '0')}/${x}`) : path)
  })
  fig({ group: 'read', name: 'GET /tile/0/<N> and /tile/entries/<N> (64 clients)', value: n / s2, unit: 'tiles/s', limit: 'bare Hono POST (64 clients, same load generator)' })
}

// --------------------------------------------------------------- offline
section('offline: verification and audit (in this process, as a client would)')
{
  const policy = parsePolicy(await (await import('node:fs/promises')).readFile(net.policy))
  const issuers = parseTrustedIssuers(BENCH_ISSUERS_FILE)
  const n = scale(3000, 1000)
  const proofs: string[] = []
  await closedLoop(n, 32, async (i) => void proofs.push((await client.request('GET', `/proof/${(i * 104729) % treeSize}`)).body.toString('utf8')))
  const okAll = async (cache?: ReturnType<typeof createVerifyCache>, inFlight = 64): Promise<number> => {
    let next = 0
    let bad = 0
    const t = performance.now()
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < proofs.length) {
          const v = await verifyActionProof(proofs[next++]!, cache === undefined ? { policy, issuers } : { policy, issuers, cache })
          if (!v.ok) bad++
        }
      }),
    )
    if (bad > 0) throw new Error(`${bad} proofs did not verify`)
    return proofs.length / ((performance.now() - t) / 1000)
  }
  // As a Node client runs them: the CLI installs node:crypto behind core's
  // rule (Ed25519 and SHA-256). The library's default in Node, WebCrypto and
  // @noble/hashes, is measured too: it is what a browser gets.
  for (const platform of ['node:crypto', 'WebCrypto'] as const) {
    usePlatformEd25519(platform === 'node:crypto' ? ed25519Workers() : undefined)
    useSha256(platform === 'node:crypto' ? nodeSha256 : undefined)
    await okAll(createVerifyCache())
    const limitName = platform === 'node:crypto' ? NODE_VERIFY : 'Ed25519 verify, WebCrypto (256 in flight)'
    fig({ group: 'offline', name: `.tlog-proof verifications, one log, cached (${platform})`, value: await okAll(createVerifyCache()), unit: 'proofs/s', limit: limitName, target: '>= 3,000/s' })
    fig({ group: 'offline', name: `.tlog-proof verifications, uncached (${platform})`, value: await okAll(undefined), unit: 'proofs/s', limit: limitName })
  }
  usePlatformEd25519(ed25519Workers())
  useSha256(nodeSha256)
  const t = performance.now()
  const r = await audit({ log: log.url, policy, issuers, stateDir: join(work, 'audit') })
  if (!r.ok) throw new Error(`audit found a problem: ${r.problem.message}`)
  fig({ group: 'offline', name: `audit (${r.processed.toLocaleString('en-US')} entries, records for every actor)`, value: r.processed / ((performance.now() - t) / 1000), unit: 'entries/s', limit: NODE_VERIFY, target: '>= 10,000/s' })
}

// --------------------------------------------------------------- storage
section('storage and memory')
{
  const bytes = dirBytes(join(work, 'net', 'log-data'))
  fig({ group: 'storage', name: `log data on disk per entry (${treeSize.toLocaleString('en-US')} entries of ${meanSize} bytes on average)`, value: bytes / treeSize, unit: 'bytes/entry', limit: ENTRY_BYTES })
  fig({ group: 'storage', name: 'log server peak RSS (through every phase above, overload included)', value: log.peakRss() / 1e6, unit: 'MB', limit: BARE_RSS })
  fig({ group: 'storage', name: 'log server RSS now', value: log.rss() / 1e6, unit: 'MB', limit: BARE_RSS })
}

// ---------------------------------------------------------- large log run
if (ENTRIES !== undefined) {
  section(`large log: ${ENTRIES.toLocaleString('en-US')} entries through POST /add-batch`)
  const have = (JSON.parse((await client.request('GET', '/healthz')).body.toString('utf8')) as { treeSize: number }).treeSize
  const need = Math.max(0, ENTRIES - have)
  const chunk = 50_000
  const reset = log.resetPeak()
  const t = performance.now()
  for (let done = 0; done < need; done += chunk) {
    const part = await generateStatements(Math.min(chunk, need - done), { time: Date.now(), salt: `large ${NOW} ${done}` })
    const bodies: Uint8Array[] = []
    for (let i = 0; i < part.length; i += 256) bodies.push(encodeCbor(part.slice(i, i + 256)))
    await closedLoop(bodies.length, 8, async (i) => {
      for (;;) {
        const r = await client.request('POST', '/add-batch', bodies[i], { 'content-type': 'application/cbor' })
        const results = (JSON.parse(r.body.toString('utf8')) as { results: { code?: string }[] }).results
        if (r.status === 200 && results.every((x) => x.code === undefined)) return
        await new Promise((res) => setTimeout(res, 500))
      }
    })
    process.stdout.write(`\r  ${(have + done + part.length).toLocaleString('en-US')} entries, server RSS ${(log.peakRss() / 1e6).toFixed(0)} MB peak    `)
  }
  console.log('')
  const size = (JSON.parse((await client.request('GET', '/healthz')).body.toString('utf8')) as { treeSize: number }).treeSize
  fig({ group: 'large', name: `filling to ${size.toLocaleString('en-US')} entries (generation included)`, value: need / ((performance.now() - t) / 1000), unit: 'statements/s', limit: LEVELDB })
  fig({ group: 'large', name: `log server peak RSS while filling to ${size.toLocaleString('en-US')} entries`, value: log.peakRss() / 1e6, unit: 'MB', limit: BARE_RSS, target: '<= 300 MB', note: reset ? undefined : 'could not reset the peak first: it includes the phases above' })
  fig({ group: 'large', name: `log server RSS at ${size.toLocaleString('en-US')} entries, right after the fill`, value: log.rss() / 1e6, unit: 'MB', limit: BARE_RSS, target: '<= 300 MB' })
  fig({ group: 'large', name: 'log data on disk per entry', value: dirBytes(join(work, 'net', 'log-data')) / size, unit: 'bytes/entry', limit: ENTRY_BYTES })
  const policy = parsePolicy(await (await import('node:fs/promises')).readFile(net.policy))
  const ta = performance.now()
  const r = await audit({ log: log.url, policy, issuers: parseTrustedIssuers(BENCH_ISSUERS_FILE), stateDir: join(work, 'audit-large') })
  if (!r.ok) throw new Error(`audit found a problem: ${r.problem.message}`)
  fig({ group: 'large', name: `audit of ${r.processed.toLocaleString('en-US')} entries`, value: r.processed / ((performance.now() - ta) / 1000), unit: 'entries/s', limit: NODE_VERIFY, target: '>= 10,000/s' })

  // The RSS right after the fill is mostly the fill's garbage: V8 grows its
  // heap under a high allocation rate and gives the space back only when the
  // rate drops (its memory reducer runs some 30 s later). A log between
  // bursts holds what is left then.
  const settleFrom = performance.now()
  let settled = log.rss()
  while (performance.now() - settleFrom < 60_000) {
    await new Promise((res) => setTimeout(res, 5000))
    settled = log.rss()
    process.stdout.write(`\r  log idle for ${((performance.now() - settleFrom) / 1000).toFixed(0)} s: RSS ${(settled / 1e6).toFixed(0)} MB    `)
  }
  console.log('')
  fig({ group: 'large', name: `log server RSS at ${size.toLocaleString('en-US')} entries, after 60 s idle`, value: settled / 1e6, unit: 'MB', limit: BARE_RSS, target: '<= 300 MB' })

  // The fill above runs the log flat out, and its RSS is then the working
  // set of that load plus what V8 and malloc keep. The same log restarted on
  // its 1M-entry store, under a steady load it keeps up with, shows what the
  // size of the log itself costs.
  await log.stop()
  children.splice(children.indexOf(log), 1)
  const again = await launch(ACTLOG, ['serve', '--config', net.logConfig])
  children.push(again)
  const c2 = new Client(again.url, 256)
  const steady = 1000
  const part = await generateStatements(steady * 20, { time: Date.now(), salt: `steady ${NOW}` })
  const bodies: Uint8Array[] = []
  for (let i = 0; i < part.length; i += 32) bodies.push(encodeCbor(part.slice(i, i + 32)))
  let acked = 0
  let reads = 0
  await openLoop(bodies.length, steady / 32, async (i) => {
    const w = await c2.request('POST', '/add-batch', bodies[i], { 'content-type': 'application/cbor' })
    if (w.status === 200) acked += (JSON.parse(w.body.toString('utf8')) as { results: { index?: number }[] }).results.filter((x) => x.index !== undefined).length
    // Proofs of random entries across the whole store, as auditors and submitters fetch them.
    for (let k = 0; k < 4; k++) if ((await c2.request('GET', `/proof/${(i * 7919 + k * 104729) % size}`)).status === 200) reads++
  })
  if (acked !== part.length) throw new Error(`the restarted log acknowledged ${acked} of ${part.length} statements`)
  fig({ group: 'large', name: `log server restarted at ${size.toLocaleString('en-US')} entries, ${steady.toLocaleString('en-US')} statements/s and ${Math.round(reads / 20)} proofs/s for 20 s: peak RSS`, value: again.peakRss() / 1e6, unit: 'MB', limit: BARE_RSS, target: '<= 300 MB' })
  c2.close()
}

client.close()
for (const c of children) await c.stop()
children.length = 0
section('targets (DESIGN.md)')
for (const f of figures.filter((x) => x.target !== undefined)) {
  console.log(`  ${f.met === true ? 'met    ' : 'NOT met'}  ${f.name}: ${fmt(f.value)} ${f.unit} (target ${f.target})`)
}
const seconds = (performance.now() - started) / 1000
writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), quick: QUICK, entries: ENTRIES ?? null, seconds, machine, figures }, null, 2) + '\n')
console.log(`\n${figures.length} figures in ${seconds.toFixed(0)} s; written to ${OUT}`)
