/**
 * Shared parts of the reliability scripts (crash-soak.ts, hostile.ts,
 * full-disk.ts) and their tests: a local network of real `actlog serve` and
 * `actlog witness` processes with keys and configurations in a directory,
 * a statement factory, a client that reads a log through its tiles with core
 * code only (never the server's proof path), a seeded random generator, and
 * the resident memory of a process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, procStatusBytes } from './proc.ts'
import {
  CompactRange,
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  TILE_WIDTH,
  buildStatement,
  bytesEqual,
  consistencyProof,
  cosignatureVerifier,
  ed25519Verifier,
  encodeSignerKey,
  encodeVerifierKey,
  issueCredential,
  leafHash,
  openNote,
  parseCheckpoint,
  parseEntryBundle,
  publicKeyFromSeed,
  sha256,
  tileHashReader,
  tilePath,
  toHex,
  utf8,
  verifyConsistency,
  type Credential,
  type ExpandedTileCache,
  type HashReader,
  type NoteVerifier,
  type TileRef,
} from '../src/core/index.ts'

/** The `actlog` command's entry point. */
export const ACTLOG = fileURLToPath(new URL('../src/cli/actlog.js', import.meta.url))

// ---------------------------------------------------------------- random

/** Returns a seeded generator of floats in [0, 1) (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Returns a random integer in [lo, hi] from `rand`. */
export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1))
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

// ---------------------------------------------------------------- processes

/** A running actlog child process. */
export interface Child {
  proc: ChildProcess
  pid: number
  /** The URL it printed (`serving <url>`). */
  url: string
  /** Its stdout and stderr, the last 256 KiB. */
  output(): string
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Sends SIGKILL and waits for the exit. */
  kill9(): Promise<void>
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<number | null>
}

/** How to spawn an actlog process. */
export interface SpawnOptions {
  /** Extra environment variables. */
  env?: Record<string, string>
  /** Run this script instead of src/cli/actlog.js (a test launcher). */
  entry?: string
  /** Run as this user and group (the caller must be root). */
  uid?: number
  gid?: number
  /** Longest wait for `serving <url>`, in ms (default 30 s). */
  timeoutMs?: number
}

const MAX_OUTPUT = 256 * 1024

// Every process spawned here dies with this one: a script stopped by Ctrl-C,
// a closed output pipe or an exception must not leave servers running.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)))
}

function track<T extends ChildProcess>(p: T): T {
  running.add(p)
  p.once('exit', () => running.delete(p))
  return p
}

/** Starts `actlog <args>` (or `opts.entry`) with piped output, tracked to die with this process. */
function spawnTracked(args: string[], opts: SpawnOptions) {
  return track(
    spawn(process.execPath, [opts.entry ?? ACTLOG, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    }),
  )
}

/**
 * Spawns `actlog <args>` and resolves once it prints `serving <url>`.
 * Rejects, with the process output, if it exits first or does not serve
 * within the timeout.
 */
export function spawnActlog(args: string[], opts: SpawnOptions = {}): Promise<Child> {
  const proc = spawnTracked(args, opts)
  let out = ''
  const keep = (d: Buffer): void => {
    out += d.toString()
    if (out.length > MAX_OUTPUT) out = out.slice(-MAX_OUTPUT / 2)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`actlog ${args.join(' ')} did not start in time:\n${out}`))
    }, opts.timeoutMs ?? 30_000)
    const onData = (): void => {
      const m = /serving (http:\/\/\S+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      proc.stdout!.off('data', onData)
      resolve({
        proc,
        pid: proc.pid!,
        url: m[1]!,
        output: () => out,
        exited,
        kill9: async () => {
          proc.kill('SIGKILL')
          await exited
        },
        stop: async () => {
          proc.kill('SIGTERM')
          return (await exited).code
        },
      })
    }
    proc.stdout!.on('data', onData)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(Object.assign(new Error(`actlog ${args.join(' ')} exited with ${code ?? signal} before serving:\n${out}`), { code, output: out }))
    })
  })
}

/** Runs `actlog <args>` (or `opts.entry`) to completion; returns its exit code and output. */
export function runActlog(args: string[], opts: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnTracked(args, opts)
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d) => (stdout += d))
  proc.stderr.on('data', (d) => (stderr += d))
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stdout, stderr })))
}

/** Returns the resident set size of process `pid` in bytes (Linux /proc), or undefined when it cannot tell. */
export function rssOf(pid: number): number | undefined {
  return procStatusBytes(pid, 'VmRSS')
}

export { freePort }

// ---------------------------------------------------------------- keys and configurations

/** The log of every reliability network. */
export const ORIGIN = 'reliability.actlog.example/log'
export const LOG_SEED = sha256(utf8('reliability log key'))
export const ISSUER_NAME = 'issuer.reliability.example'
export const ISSUER_SEED = sha256(utf8('reliability issuer key'))
export const PREFIX = 'spiffe://reliability.example/'
export const WITNESS_NAMES = ['w1.reliability.example', 'w2.reliability.example']
export const witnessSeed = (i: number): Uint8Array => sha256(utf8(`reliability witness ${i}`))
export const LOG_VKEY = encodeVerifierKey(ORIGIN, SIG_TYPE_ED25519, publicKeyFromSeed(LOG_SEED))

/** Returns the verifier of the log's key. */
export function logVerifier(): NoteVerifier {
  return ed25519Verifier(ORIGIN, publicKeyFromSeed(LOG_SEED))
}

/** Returns the cosignature verifier of witness `i`. */
export function witnessVerifier(i: number): NoteVerifier {
  return cosignatureVerifier(WITNESS_NAMES[i]!, publicKeyFromSeed(witnessSeed(i)))
}

/** Keys and configuration files of a log and its witnesses, in one directory. */
export interface Network {
  dir: string
  logConfig: string
  logDataDir: string
  /** Fixed, so that a restarted log keeps its URL. */
  logPort: number
  logUrl: string
  witnessConfigs: string[]
  witnessDataDirs: string[]
  witnessPorts: number[]
  witnessUrls: string[]
  policyFile: string | undefined
  issuersFile: string
}

/** What writeNetwork makes. */
export interface NetworkOptions {
  /** Witness processes, 0 to 2 (default 2). With 0, the log publishes unwitnessed checkpoints. */
  witnesses?: number
  /** Whether the log's policy names the witnesses (default: when there are witnesses). */
  witnessedLog?: boolean
  batch?: { maxEntries: number; maxDelayMs: number }
  maxPending?: number
  witnessWaitSeconds?: number
  /** Where the log's data lives (default `<dir>/log-data`). */
  logDataDir?: string
  /** Evidence kept per log by each witness. */
  evidencePerLog?: number
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n')
}

/** Writes keys, a trusted-issuers file, a 2-of-2 policy and configurations under `dir`, on fixed free ports. */
export async function writeNetwork(dir: string, opts: NetworkOptions = {}): Promise<Network> {
  mkdirSync(dir, { recursive: true })
  const n = opts.witnesses ?? 2
  const logPort = await freePort()
  const witnessPorts: number[] = []
  for (let i = 0; i < n; i++) witnessPorts.push(await freePort())
  writeFileSync(join(dir, 'log.key'), encodeSignerKey(ORIGIN, SIG_TYPE_ED25519, LOG_SEED) + '\n', { mode: 0o600 })
  const issuersFile = join(dir, 'issuers.txt')
  writeFileSync(issuersFile, `issuer reliability ${encodeVerifierKey(ISSUER_NAME, SIG_TYPE_ED25519, publicKeyFromSeed(ISSUER_SEED))} ${PREFIX}\n`)
  const witnessConfigs: string[] = []
  const witnessDataDirs: string[] = []
  for (let i = 0; i < n; i++) {
    writeFileSync(join(dir, `w${i + 1}.key`), encodeSignerKey(WITNESS_NAMES[i]!, SIG_TYPE_COSIGNATURE_V1, witnessSeed(i)) + '\n', { mode: 0o600 })
    const file = join(dir, `w${i + 1}.json`)
    writeJson(file, {
      name: WITNESS_NAMES[i],
      keyFile: `w${i + 1}.key`,
      dataDir: `w${i + 1}-data`,
      listen: `127.0.0.1:${witnessPorts[i]}`,
      logs: [{ origin: ORIGIN, vkeys: [LOG_VKEY] }],
      ...(opts.evidencePerLog !== undefined ? { limits: { evidencePerLog: opts.evidencePerLog, evidenceBytes: 64 * 1024 * 1024 } } : {}),
    })
    witnessConfigs.push(file)
    witnessDataDirs.push(join(dir, `w${i + 1}-data`))
  }
  let policyFile: string | undefined
  if (n > 0 && opts.witnessedLog !== false) {
    policyFile = join(dir, 'policy.txt')
    const names = witnessPorts.map((_, i) => `W${i + 1}`)
    writeFileSync(
      policyFile,
      [
        `log ${LOG_VKEY}`,
        ...witnessPorts.map(
          (port, i) => `witness W${i + 1} ${encodeVerifierKey(WITNESS_NAMES[i]!, SIG_TYPE_COSIGNATURE_V1, publicKeyFromSeed(witnessSeed(i)))} http://127.0.0.1:${port}`,
        ),
        `group all-witnesses all ${names.join(' ')}`,
        'quorum all-witnesses',
        '',
      ].join('\n'),
    )
  }
  const logDataDir = opts.logDataDir ?? join(dir, 'log-data')
  const logConfig = join(dir, 'log.json')
  writeJson(logConfig, {
    origin: ORIGIN,
    dataDir: logDataDir,
    keyFile: 'log.key',
    listen: `127.0.0.1:${logPort}`,
    issuersFile: 'issuers.txt',
    ...(policyFile !== undefined ? { policyFile: 'policy.txt' } : {}),
    batch: opts.batch ?? { maxEntries: 64, maxDelayMs: 5 },
    maxPending: opts.maxPending ?? 20_000,
    witnessWaitSeconds: opts.witnessWaitSeconds ?? 5,
    witnessTimeoutSeconds: 2,
  })
  return {
    dir,
    logConfig,
    logDataDir,
    logPort,
    logUrl: `http://127.0.0.1:${logPort}`,
    witnessConfigs,
    witnessDataDirs,
    witnessPorts,
    witnessUrls: witnessPorts.map((p) => `http://127.0.0.1:${p}`),
    policyFile,
    issuersFile,
  }
}

/** Starts the network's log process. */
export function startLog(net: Network, opts: SpawnOptions = {}): Promise<Child> {
  return spawnActlog(['serve', '--config', net.logConfig], opts)
}

/** Starts the network's witness `i`. */
export function startWitness(net: Network, i: number, opts: SpawnOptions = {}): Promise<Child> {
  return spawnActlog(['witness', '--config', net.witnessConfigs[i]!], opts)
}

/** The path of the witness monitoring API for the network's log: `/<hex SHA-256 of the origin>/checkpoint`. */
export const MONITOR_PATH = `/${toHex(sha256(utf8(ORIGIN)))}/checkpoint`

// ---------------------------------------------------------------- statements

/** Signs statements of one actor credentialed by the network's issuer. */
export class Actor {
  readonly name: string
  readonly #seed: Uint8Array
  #credential: Promise<Credential>

  /** Returns an actor named `${PREFIX}agent/<label>`. */
  constructor(label: string) {
    this.name = `${PREFIX}agent/${label}`
    this.#seed = sha256(utf8(`reliability actor ${label}`))
    this.#credential = issueCredential(
      { issuer: ISSUER_NAME, subject: this.name, subjectKey: publicKeyFromSeed(this.#seed), notBefore: 0, notAfter: 4_000_000_000_000 },
      ISSUER_SEED,
    )
  }

  /** Returns a signed statement, unique per `n` (and `salt`), stamped `time`. */
  async statement(n: number, time = Date.now(), salt = ''): Promise<Uint8Array> {
    return buildStatement(
      {
        actor: this.name,
        action: 'payments.transfer',
        target: `acct:DE${String(n).padStart(20, '0')}`,
        params: sha256(utf8(`params ${salt}${n}`)),
        tool: 'mcp://tools.reliability.example/payments@1.0.0',
        policy: { id: 'payments-limit', version: '7', decision: 'allow' },
        delegation: [{ principal: 'user:alice@reliability.example', scope: 'payments:transfer' }],
        time,
        nonce: sha256(utf8(`nonce ${salt}${n}`)).slice(0, 16),
      },
      { seed: this.#seed, credentials: [await this.#credential] },
    )
  }
}

// ---------------------------------------------------------------- reading a log through its tiles

/** A log-signed (and maybe cosigned) checkpoint, opened. */
export interface SeenCheckpoint {
  treeSize: number
  rootHash: Uint8Array
  /** Where it was served: `add`, `checkpoint`, `witness W1`, ... */
  from: string
}

/** Returns the checkpoint of a note if the log's key signed it; throws otherwise. */
export async function openCheckpoint(note: string): Promise<{ treeSize: number; rootHash: Uint8Array }> {
  const c = parseCheckpoint((await openNote(note, [logVerifier()])).note.text)
  if (c.origin !== ORIGIN) throw new Error(`checkpoint of another origin: ${c.origin}`)
  return { treeSize: c.treeSize, rootHash: c.rootHash }
}

/** GETs `url` and returns the body; throws on a non-200 answer. Never asks for gzip. */
export async function getBytes(url: string, timeoutMs = 15_000): Promise<Uint8Array> {
  const res = await fetch(url, { headers: { 'accept-encoding': 'identity' }, signal: AbortSignal.timeout(timeoutMs) })
  const body = new Uint8Array(await res.arrayBuffer())
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${new TextDecoder().decode(body.slice(0, 200))}`)
  return body
}

/**
 * Reads a log over tlog-tiles with core code. Full entry bundles (and their
 * leaf hashes) are kept across reads: they never change, and anything else
 * is caught because the root computed from them must equal the signed root.
 */
export class TileClient {
  readonly base: string
  /** Full bundles: index -> entries and their leaf hashes, checked against the level-0 tile when read. */
  readonly #full = new Map<number, { entries: Uint8Array[]; hashes: Uint8Array[] }>()
  /** The compact range over the first #prefixBundles full bundles. */
  readonly #prefix = new CompactRange()
  #prefixBundles = 0
  /** Bytes read over HTTP, for reports. */
  bytesRead = 0

  constructor(base: string) {
    this.base = base
  }

  async #get(path: string): Promise<Uint8Array> {
    const b = await getBytes(`${this.base}/${path}`)
    this.bytesRead += b.length
    return b
  }

  /** Returns the entries of bundle `n` of a tree of `size` (bundle and level-0 tile read and checked against each other). */
  async bundle(n: number, size: number, refetch = false): Promise<{ entries: Uint8Array[]; hashes: Uint8Array[] }> {
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH)
    const cached = width === TILE_WIDTH ? this.#full.get(n) : undefined
    if (cached !== undefined && !refetch) return cached
    const [bundle, tile] = await Promise.all([this.#get(tilePath({ level: 'entries', index: n, width })), this.#get(tilePath({ level: 0, index: n, width }))])
    const entries = parseEntryBundle(bundle, width)
    const hashes = entries.map((e) => leafHash(e))
    hashes.forEach((h, i) => {
      if (!bytesEqual(h, tile.subarray(i * 32, i * 32 + 32))) throw new Error(`entry ${n * TILE_WIDTH + i} does not match its level-0 tile hash`)
    })
    const got = { entries, hashes }
    if (cached !== undefined) {
      // A re-read of a full bundle must give the very bytes read before.
      got.entries.forEach((e, i) => {
        if (!bytesEqual(e, cached.entries[i]!)) throw new Error(`full entry bundle ${n} changed: entry ${n * TILE_WIDTH + i} differs from an earlier read`)
      })
    }
    if (width === TILE_WIDTH) this.#full.set(n, got)
    return got
  }

  /**
   * Returns every entry of the tree of `size`, their leaf hashes, and the root they hash to.
   * `refetchFull(n)` says which cached full bundles to read again (their
   * bytes must not have changed).
   */
  async tree(size: number, refetchFull: (n: number) => boolean = () => false): Promise<{ entries: Uint8Array[]; hashes: Uint8Array[]; root: Uint8Array }> {
    const bundles = Math.ceil(size / TILE_WIDTH)
    const got: { entries: Uint8Array[]; hashes: Uint8Array[] }[] = []
    for (let start = 0; start < bundles; start += 16) {
      got.push(...(await Promise.all(Array.from({ length: Math.min(16, bundles - start) }, (_, k) => this.bundle(start + k, size, refetchFull(start + k))))))
    }
    // The root over the full bundles already hashed is kept; only the rest is hashed again.
    const full = Math.floor(size / TILE_WIDTH)
    while (this.#prefixBundles < full) {
      for (const h of got[this.#prefixBundles]!.hashes) this.#prefix.append(h)
      this.#prefixBundles++
    }
    // A tree shorter than the hashed prefix (a log that lost entries) is hashed from scratch.
    const from = this.#prefixBundles <= full ? this.#prefixBundles : 0
    const range = from > 0 ? CompactRange.fromHashes(this.#prefix.size, this.#prefix.hashes()) : new CompactRange()
    for (let n = from; n < bundles; n++) for (const h of got[n]!.hashes) range.append(h)
    return { entries: got.flatMap((b) => b.entries), hashes: got.flatMap((b) => b.hashes), root: range.root() }
  }

  /** Returns a HashReader over the tiles of a tree of `size`, sharing `cache` between proofs. */
  hashReader(size: number, cache: ExpandedTileCache = new Map()): HashReader {
    return tileHashReader(size, { readTiles: (refs: readonly TileRef[]) => Promise.all(refs.map((t) => this.#get(tilePath(t)))) }, cache)
  }

  /** Returns whether `old` is consistent with the tree of `size` and `root`, by a proof built from the tiles. */
  async consistent(old: { treeSize: number; rootHash: Uint8Array }, size: number, root: Uint8Array, cache?: ExpandedTileCache): Promise<boolean> {
    if (old.treeSize > size) return false
    if (old.treeSize === size) return bytesEqual(old.rootHash, root)
    const proof = await consistencyProof(old.treeSize, size, this.hashReader(size, cache))
    return verifyConsistency(old.treeSize, size, proof, old.rootHash, root)
  }
}

/** Returns the value of a Prometheus counter or gauge line (summing every label set that contains `labels`), 0 if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const set = m[2] ?? ''
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) total += Number(m[3])
  }
  return total
}

// ---------------------------------------------------------------- load

/** What a Load saw. */
export interface LoadResult {
  /** Acknowledged statements by index. */
  acked: Map<number, Uint8Array>
  /** Statements sent whose answer never came (connection lost) or was 503: they may or may not be in the log. */
  unanswered: Uint8Array[]
  /** Answers by HTTP status ('error' for a lost connection). */
  statuses: Record<string, number>
  /** The first body of each non-200 status. */
  samples: Record<string, string>
  /** Checkpoints from the acknowledgements. */
  checkpoints: string[]
}

/**
 * Submits fresh statements of `actor` with `concurrency` clients until
 * `stop()` says so, `count` were sent, or the log stops answering; each
 * statement is sent once. Returns what was acknowledged and what was not.
 */
export async function submitLoad(
  url: string,
  actor: Actor,
  opts: { concurrency?: number; count?: number; stop?: () => boolean; salt?: string; query?: string; startAt?: number },
): Promise<LoadResult> {
  const r: LoadResult = { acked: new Map(), unanswered: [], statuses: {}, samples: {}, checkpoints: [] }
  let next = opts.startAt ?? 0
  const last = opts.count === undefined ? Infinity : next + opts.count
  let dead = false
  const client = async (): Promise<void> => {
    while (!dead && next < last && !(opts.stop?.() ?? false)) {
      const entry = await actor.statement(next++, Date.now(), opts.salt ?? '')
      let status: string
      try {
        const res = await fetch(`${url}/add${opts.query ?? ''}`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: entry as BodyInit })
        status = String(res.status)
        const text = await res.text()
        if (res.status === 200) {
          const body = JSON.parse(text) as { index: number; checkpoint: string }
          r.acked.set(body.index, entry)
          r.checkpoints.push(body.checkpoint)
        } else {
          r.samples[status] ??= text
          r.unanswered.push(entry)
        }
      } catch {
        status = 'error'
        r.unanswered.push(entry)
        dead = true
      }
      r.statuses[status] = (r.statuses[status] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, client))
  return r
}
