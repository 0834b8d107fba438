import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { serve } from '@hono/node-server'
import {
  createCredentialCache,
  ed25519Signer,
  parsePolicy,
  parseSignerKey,
  parseTrustedIssuers,
  publicKeyFromSeed,
  usePlatformEd25519,
  useSha256,
  SIG_TYPE_ED25519,
} from '../core/index.ts'
import { openLevelLogStore, type IndexEvent, type StoreWriteError } from '../storage/index.ts'
import { createLogApp } from './app.ts'
import { logConsolePage } from './console-page.ts'
import { httpServerOptions, limitConnections } from './http-limits.ts'
import type { LogConfig } from './config.ts'
import { LogMetrics } from './metrics.ts'
import { LogSignedCheckpoints } from './published.ts'
import { LogReader } from './reader.ts'
import { LogRevocations } from './revocations.ts'
import { Sequencer } from './sequencer.ts'
import { ed25519Workers } from './ed25519-workers.ts'
import { nodeSha256 } from './node-sha256.ts'
import { Witnessing } from './witnessing.ts'

/** A running log server. */
export interface RunningLog {
  url: string
  treeSize(): number
  close(): Promise<void>
}

/** Options that are not configuration: the clock (tests) and where to report. */
export interface StartOptions {
  now?: () => number
  log?: (line: string) => void
  /** Called when the log must stop because its disk state is unknown; the CLI exits. */
  onFatal?: (err: unknown) => void
}

/** Says what opening the store did to its dedup index, for the operator. */
export function describeIndexEvent(e: IndexEvent): string {
  switch (e.kind) {
    case 'moved':
      return `moved the dedup index (${e.records} entries) into its own LevelDB directory`
    case 'cleared':
      return `the dedup index covered ${e.indexed} entries but the log holds ${e.treeSize}; rebuilding it from the stored entries`
    case 'indexing':
      if (e.done === e.from) return `indexing entries ${e.from} to ${e.to - 1} for deduplication`
      return `indexed ${e.done - e.from} of ${e.to - e.from} entries for deduplication`
  }
}

/** Starts a log from its configuration: config -> store -> sequencer -> app -> listen. */
export async function startLog(cfg: LogConfig, opts: StartOptions = {}): Promise<RunningLog> {
  const log = opts.log ?? (() => {})
  usePlatformEd25519(ed25519Workers())
  useSha256(nodeSha256)
  const key = parseSignerKey(readFileSync(cfg.keyFile, 'utf8').trim())
  if (key.name !== cfg.origin || key.type !== SIG_TYPE_ED25519) {
    throw new TypeError(`${cfg.keyFile}: the log key must be an Ed25519 key named after the origin ${cfg.origin} (found ${key.name})`)
  }
  const issuersText = readFileSync(cfg.issuersFile, 'utf8')
  const issuers = parseTrustedIssuers(issuersText)
  const policyText = cfg.policyFile === undefined ? undefined : readFileSync(cfg.policyFile, 'utf8')
  const store = await openLevelLogStore(cfg.dataDir, (e) => log(describeIndexEvent(e)))
  let revocations: LogRevocations
  try {
    revocations = await LogRevocations.open(cfg.dataDir, store, issuers, (from, to) => log(`reading entries ${from} to ${to - 1} for the revocation state`))
  } catch (e) {
    await store.close()
    throw e
  }
  const metrics = new LogMetrics()
  // One reader for the sequencer and the app: the sequencer teaches it the
  // hashes of each new batch, which the proofs in the replies then use.
  const reader = new LogReader(store)
  const sequencer = await Sequencer.open({
    store,
    reader,
    origin: cfg.origin,
    signer: ed25519Signer(key.name, key.seed),
    maxBatch: cfg.batch.maxEntries,
    maxDelayMs: cfg.batch.maxDelayMs,
    maxPending: cfg.maxPending,
    inOrder: revocations,
    onFatal: opts.onFatal ?? ((err) => log(`fatal storage error: ${String(err)}`)),
    onWriteError: writeErrorReporter(log),
    onBatch: ({ entries, commitMs }) => {
      metrics.batchSize.observe(entries)
      metrics.fsync.observe(commitMs / 1000)
    },
  })
  let checkpoints: LogSignedCheckpoints | Witnessing
  let witnessing: Witnessing | undefined
  if (cfg.policyFile === undefined) {
    checkpoints = new LogSignedCheckpoints(sequencer, store)
  } else {
    try {
      witnessing = await Witnessing.start({
        policy: parsePolicy(policyText!),
        sequencer,
        store,
        reader,
        metrics,
        timeoutMs: cfg.witnessTimeoutMs,
        minIntervalMs: cfg.witnessIntervalMs,
        log,
        onSplit: (err) => sequencer.halt(err),
      })
    } catch (e) {
      await sequencer.close()
      await store.close()
      throw e
    }
    checkpoints = witnessing
  }
  const app = createLogApp({
    sequencer,
    store,
    reader,
    issuers,
    credentialCache: createCredentialCache(50_000),
    metrics,
    checkpoints,
    now: opts.now ?? Date.now,
    maxSkewMs: cfg.maxClockSkewMs,
    witnessWaitMs: cfg.witnessWaitMs,
    maxInFlight: cfg.maxPending,
    bodyTimeoutMs: cfg.http.bodyTimeoutMs,
    quotas: cfg.quotas,
    revocations,
    logError: (err) => log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    consolePage: logConsolePage({ origin: cfg.origin, logPublicKey: publicKeyFromSeed(key.seed), policyText, issuersText, log }),
  })
  const server = serve({ fetch: app.fetch, hostname: cfg.listen.host, port: cfg.listen.port, serverOptions: httpServerOptions(cfg.http) }) as Server
  limitConnections(server, cfg.http)
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  log(`log ${cfg.origin} listening on http://${host}:${addr.port} with ${sequencer.treeSize} entries`)
  // The reader's caches go when no one has read for a whole interval (so
  // between 20 and 40 s after the last read). unref: it never keeps the process up.
  const collect = fullCollector()
  const releaser = setInterval(() => {
    if (reader.releaseIfIdle()) collect?.()
  }, READER_IDLE_MS).unref()
  return {
    url: `http://${host}:${addr.port}`,
    treeSize: () => sequencer.treeSize,
    async close() {
      clearInterval(releaser)
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Idle keep-alive connections would hold close() open for their timeout.
      server.closeIdleConnections()
      await closed
      await witnessing?.close()
      await sequencer.close()
      revocations.close()
      await store.close()
    },
  }
}

/** How often the log checks whether its reader has been idle. */
const READER_IDLE_MS = 20_000

/**
 * V8's full collection, or undefined where it cannot be had. The buffers
 * the reader lets go when idle (tens of MB, outside V8's heap) are freed
 * only by a full collection, and an idle process starts none: without one
 * they stayed in memory for as long as the log stayed quiet. One collection
 * of a heap of ~20 MB, once per idle period, takes milliseconds. (The flag
 * puts `gc` into contexts made after it is set, not into the log's own.)
 */
export function fullCollector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined
  } catch {
    return undefined
  }
}

/**
 * Returns the reporter of batches that failed with nothing written (e.g. a
 * full disk): one line for the first failure, then at most one every 10 s
 * with the count, so a full disk under load does not flood the output.
 */
function writeErrorReporter(log: (line: string) => void): (err: StoreWriteError, entries: number) => void {
  let last = -Infinity
  let failed = 0
  return (err, entries) => {
    failed += entries
    if (Date.now() - last < 10_000) return
    last = Date.now()
    log(`storage write failed, nothing was written (${err.message}); ${failed} submission(s) answered 503 since the last report. Free space on the disk of the data directory, or fix the storage error; the log goes on by itself.`)
    failed = 0
  }
}

export { loadLogConfig, type LogConfig } from './config.ts'
// The CLI reports these to the operator as one line (it imports nothing from storage).
export { StoreLockedError, StoreOpenError } from '../storage/index.ts'
// For the CLI's verify, proof and audit commands, which run in Node too.
export { Ed25519Workers, ed25519Workers } from './ed25519-workers.ts'
export { nodeSha256 } from './node-sha256.ts'
// For `actlog start` and the benchmark, which spawn servers.
export { serverEnv } from './process-env.ts'
