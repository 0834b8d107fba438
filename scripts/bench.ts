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
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
  sigStructure,
  verifyBatch,
  verifyNoble,
  webCryptoEd25519Available,
} from '../src/core/index.ts'
import { LevelKv } from '../src/storage/index.ts'
import { createVerifyCache, verifyActionProof } from '../src/verify/index.ts'
import { audit } from '../src/audit/index.ts'
import { BENCH_ISSUERS_FILE, generateStatements } from './bench-statements.ts'
import { ACTLOG, launch, writeNetwork, type Child } from './bench-network.ts'
import { Client, closedLoop, openLoop, percentile } from './load.ts'

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
}

const figures: Figure[] = []
const limits = new Map<string, number>()

function fig(f: Figure): void {
  if (f.limit !== undefined && limits.has(f.limit)) f.ratio = f.value / limits.get(f.limit)!
  figures.push(f)
  const ratio = f.ratio === undefined ? '' : `  (${(f.ratio * 100).toFixed(1)}% of ${f.limit})`
  console.log(`  ${f.name.padEnd(58)} ${fmt(f.value).padStart(12)} ${f.unit}${ratio}`)
}

function limit(name: string, value: number, unit: string): void {
  limits.set(name, value)
  figures.push({ group: 'limits', name, value, unit })
  console.log(`  ${name.padEnd(58)} ${fmt(value).padStart(12)} ${unit}`)
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
const rateCount = scale(50_000, 10_000)
const batchCount = scale(60_000, 12_000)
const t0 = performance.now()
const statements = await generateStatements(writeCount + rateCount + batchCount, { time: NOW, salt: `run ${NOW}` })
console.log(`  ${statements.length.toLocaleString('en-US')} statements of ~${statements[0]!.length} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

// ---------------------------------------------------------------- limits
section('limits on this machine (same run)')
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
  limit('Ed25519 verify, node:crypto (256 in flight)', n / ((performance.now() - t) / 1000), 'verifications/s')
}
{
  const kv = await LevelKv.open(join(work, 'raw-leveldb'))
  const batch = 256
  const rounds = scale(120, 40)
  let key = 0
  const t = performance.now()
  for (let r = 0; r < rounds; r++) {
    const ops = statements.slice(0, batch).map((value) => {
      const k = Buffer.alloc(9)
      k[0] = 3
      k.writeBigUInt64BE(BigInt(key++), 1)
      return { type: 'put' as const, key: new Uint8Array(k), value }
    })
    await kv.batch(ops)
  }
  limit('LevelDB synced batches of 256 statements', (rounds * batch) / ((performance.now() - t) / 1000), 'entries/s')
  await kv.close()
}
{
  const bare = await launch(fileURLToPath(new URL('./bench-bare.ts', import.meta.url)), [], {}, ['--import', 'tsx'])
  children.push(bare)
  const c = new Client(bare.url)
  const body = statements[0]!
  const n = scale(40_000, 10_000)
  await closedLoop(2000, 64, async () => void (await c.request('POST', '/add', body, { 'content-type': 'application/cose' })))
  const s = await closedLoop(n, 64, async () => void (await c.request('POST', '/add', body, { 'content-type': 'application/cose' })))
  limit('bare Hono POST (64 clients, same load generator)', n / s, 'requests/s')
  c.close()
  await bare.stop()
  children.splice(children.indexOf(bare), 1)
}

// ------------------------------------------------------------ write path
section('write path: a real log and two real witnesses (2-of-2 quorum)')
const net = await writeNetwork(join(work, 'net'), BENCH_ISSUERS_FILE, { batch: { maxEntries: 1024, maxDelayMs: 5 } })
for (const w of net.witnessConfigs) children.push(await launch(ACTLOG, ['witness', '--config', w]))
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
      const r = await client.request('GET', '/checkpoint')
      if (r.status === 200) {
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

let cursor = 0
const take = (n: number): Uint8Array[] => statements.slice(cursor, (cursor += n))
{
  const entries = take(writeCount)
  const lat: number[] = []
  let refused = 0
  const s = await closedLoop(entries.length, 256, async (i) => {
    const r = await client.request('POST', '/add', entries[i], { 'content-type': 'application/cose' })
    if (r.status === 200) lat.push(r.ms)
    else refused++
  })
  lat.sort((a, b) => a - b)
  const rate = lat.length / s
  fig({ group: 'write', name: 'POST /add, 256 clients: acknowledged (durable)', value: rate, unit: 'statements/s', limit: 'LevelDB synced batches of 256 statements', target: '>= 5,000/s' })
  figures[figures.length - 1]!.note = `ratio to the bare Hono POST rate: ${((rate / limits.get('bare Hono POST (64 clients, same load generator)')!) * 100).toFixed(1)}%; refused (503): ${refused}`
  console.log(`    ${figures[figures.length - 1]!.note}`)
  fig({ group: 'write', name: 'POST /add, 256 clients: latency p50', value: percentile(lat, 50), unit: 'ms' })
  fig({ group: 'write', name: 'POST /add, 256 clients: latency p95', value: percentile(lat, 95), unit: 'ms' })
  fig({ group: 'write', name: 'POST /add, 256 clients: latency p99', value: percentile(lat, 99), unit: 'ms' })
}
{
  const entries = take(batchCount)
  const per = 128
  const bodies: Uint8Array[] = []
  for (let i = 0; i < entries.length; i += per) bodies.push(encodeCbor(entries.slice(i, i + per)))
  const lat: number[] = []
  const s = await closedLoop(bodies.length, 8, async (i) => {
    const r = await client.request('POST', '/add-batch', bodies[i], { 'content-type': 'application/cbor' })
    if (r.status === 200) lat.push(r.ms)
  })
  lat.sort((a, b) => a - b)
  fig({ group: 'write', name: `POST /add-batch (${per} per request, 8 clients)`, value: entries.length / s, unit: 'statements/s', limit: 'LevelDB synced batches of 256 statements', target: '>= 5,000/s' })
  fig({ group: 'write', name: 'POST /add-batch: request latency p99', value: percentile(lat, 99), unit: 'ms' })
}
{
  // Open loop at the target rate: latency at that load, and the time from
  // acknowledgement to the first checkpoint meeting the quorum.
  const entries = take(rateCount)
  const RATE = 5000
  const watch = new WitnessWatch()
  const watching = watch.run()
  const lat: number[] = []
  let refused = 0
  const s = await openLoop(entries.length, RATE, async (i) => {
    const r = await client.request('POST', '/add', entries[i], { 'content-type': 'application/cose' })
    if (r.status === 200) {
      lat.push(r.ms)
      watch.acked((JSON.parse(r.body.toString('utf8')) as { index: number }).index, r.at)
    } else refused++
  })
  const end = performance.now() + 15_000
  while (watch.delays.length < lat.length && performance.now() < end) await new Promise((r) => setTimeout(r, 20))
  watch.stop()
  await watching
  lat.sort((a, b) => a - b)
  const d = watch.delays.sort((a, b) => a - b)
  fig({ group: 'write', name: `POST /add offered at ${RATE}/s: achieved`, value: lat.length / s, unit: 'statements/s', note: `refused (503): ${refused}` })
  fig({ group: 'write', name: `POST /add at ${RATE}/s: latency p50`, value: percentile(lat, 50), unit: 'ms' })
  fig({ group: 'write', name: `POST /add at ${RATE}/s: latency p95`, value: percentile(lat, 95), unit: 'ms' })
  fig({ group: 'write', name: `POST /add at ${RATE}/s: latency p99`, value: percentile(lat, 99), unit: 'ms', target: '<= 250 ms' })
  fig({ group: 'write', name: 'ack -> first quorum-cosigned checkpoint: p50', value: percentile(d, 50), unit: 'ms', target: '<= 500 ms' })
  fig({ group: 'write', name: 'ack -> first quorum-cosigned checkpoint: p99', value: percentile(d, 99), unit: 'ms' })
}
const treeSize = (JSON.parse((await client.request('GET', '/healthz')).body.toString('utf8')) as { treeSize: number }).treeSize

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
  await okAll(createVerifyCache())
  fig({ group: 'offline', name: '.tlog-proof verifications, one log (cached checkpoint + credentials)', value: await okAll(createVerifyCache()), unit: 'proofs/s', limit: 'Ed25519 verify, WebCrypto (256 in flight)', target: '>= 3,000/s' })
  fig({ group: 'offline', name: '.tlog-proof verifications, uncached', value: await okAll(undefined), unit: 'proofs/s', limit: 'Ed25519 verify, WebCrypto (256 in flight)' })
  const t = performance.now()
  const r = await audit({ log: log.url, policy, issuers, stateDir: join(work, 'audit') })
  if (!r.ok) throw new Error(`audit found a problem: ${r.problem.message}`)
  fig({ group: 'offline', name: `audit (${r.processed.toLocaleString('en-US')} entries, records for every actor)`, value: r.processed / ((performance.now() - t) / 1000), unit: 'entries/s', limit: 'Ed25519 verify, WebCrypto (256 in flight)', target: '>= 10,000/s' })
}

// --------------------------------------------------------------- storage
section('storage and memory')
{
  const bytes = dirBytes(join(work, 'net', 'log-data'))
  fig({ group: 'storage', name: `log data on disk per entry (${treeSize.toLocaleString('en-US')} entries of ~${statements[0]!.length} bytes)`, value: bytes / treeSize, unit: 'bytes/entry' })
  fig({ group: 'storage', name: 'log server peak RSS', value: log.peakRss() / 1e6, unit: 'MB', target: '<= 300 MB at 1M entries' })
}

// ---------------------------------------------------------- large log run
if (ENTRIES !== undefined) {
  section(`large log: ${ENTRIES.toLocaleString('en-US')} entries through POST /add-batch`)
  const have = (JSON.parse((await client.request('GET', '/healthz')).body.toString('utf8')) as { treeSize: number }).treeSize
  const need = Math.max(0, ENTRIES - have)
  const chunk = 50_000
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
  fig({ group: 'large', name: `filling to ${size.toLocaleString('en-US')} entries (generation included)`, value: need / ((performance.now() - t) / 1000), unit: 'statements/s' })
  fig({ group: 'large', name: `log server peak RSS at ${size.toLocaleString('en-US')} entries`, value: log.peakRss() / 1e6, unit: 'MB', target: '<= 300 MB' })
  fig({ group: 'large', name: 'log data on disk per entry', value: dirBytes(join(work, 'net', 'log-data')) / size, unit: 'bytes/entry' })
  const policy = parsePolicy(await (await import('node:fs/promises')).readFile(net.policy))
  const ta = performance.now()
  const r = await audit({ log: log.url, policy, issuers: parseTrustedIssuers(BENCH_ISSUERS_FILE), stateDir: join(work, 'audit-large') })
  if (!r.ok) throw new Error(`audit found a problem: ${r.problem.message}`)
  fig({ group: 'large', name: `audit of ${r.processed.toLocaleString('en-US')} entries`, value: r.processed / ((performance.now() - ta) / 1000), unit: 'entries/s', limit: 'Ed25519 verify, WebCrypto (256 in flight)', target: '>= 10,000/s' })
}

client.close()
for (const c of children) await c.stop()
children.length = 0
const seconds = (performance.now() - started) / 1000
writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), quick: QUICK, entries: ENTRIES ?? null, seconds, machine, figures }, null, 2) + '\n')
console.log(`\n${figures.length} figures in ${seconds.toFixed(0)} s; written to ${OUT}`)
