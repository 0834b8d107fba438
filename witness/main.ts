import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { parseSignerKey, verifierFromKey, type SignerKey } from '../src/core/index.ts'
import { LevelKv, treeStateKey } from '../src/storage/index.ts'
import { createWitnessApp } from './app.ts'
import type { WitnessConfig } from './config.ts'
import { WitnessMetrics } from './metrics.ts'
import { WitnessState } from './state.ts'
import { witnessCosigner } from './witness.ts'

/**
 * Node's HTTP server limits on slow clients: 10 s to send the headers and
 * 30 s for the whole request (an add-checkpoint body is at most 264 KiB),
 * checked every second; then Node answers 408 and closes the connection.
 * Node's defaults (60 s and 300 s, checked every 30 s) let a client that
 * trickles or stalls hold a connection for five minutes.
 */
export const HTTP_SERVER_OPTIONS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 } as const

/** A running witness. */
export interface RunningWitness {
  /** The base URL it serves, e.g. `http://127.0.0.1:7380`. */
  url: string
  /** Stops accepting requests, lets those in flight finish, then closes the store. */
  close(): Promise<void>
}

/** Options that are not configuration: the clock (tests) and where to report. Nothing is printed. */
export interface WitnessStartOptions {
  /** The clock in ms since the epoch (cosignature timestamps are its whole seconds). */
  now?: () => number
  /** Receives one line per notable event (listening, unexpected errors). */
  log?: (line: string) => void
}

function readWitnessKey(cfg: WitnessConfig): SignerKey {
  let text: string
  try {
    text = readFileSync(cfg.keyFile, 'utf8')
  } catch (e) {
    throw new TypeError(`keyFile ${cfg.keyFile}: cannot read the witness key: ${e instanceof Error ? e.message : String(e)}`)
  }
  let key: SignerKey
  try {
    key = parseSignerKey(text.trim())
  } catch (e) {
    throw new TypeError(`keyFile ${cfg.keyFile}: not a signer key: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (key.name !== cfg.name) throw new TypeError(`keyFile ${cfg.keyFile}: the key is named ${key.name}, but "name" is ${cfg.name}`)
  return key
}

/**
 * Starts a witness from its configuration: config -> key -> store -> app ->
 * listen. Throws TypeError on a bad key file, StoreLockedError when another
 * process uses the data directory, and the listen error (e.g. EADDRINUSE).
 */
export async function startWitness(cfg: WitnessConfig, opts: WitnessStartOptions = {}): Promise<RunningWitness> {
  const log = opts.log ?? (() => {})
  const now = opts.now ?? Date.now
  const cosigner = witnessCosigner(readWitnessKey(cfg), now)
  const kv = await LevelKv.open(cfg.dataDir)
  let server: ReturnType<typeof serve> | undefined
  try {
    // A log's data directory holds a tree state; a witness must never share
    // one (its state would sit beside a log's and be backed up as one).
    if ((await kv.get(treeStateKey())) !== undefined) {
      throw new TypeError(`dataDir ${cfg.dataDir} holds an actlog log's data; give the witness a directory of its own`)
    }
    const app = createWitnessApp({
      state: new WitnessState(kv, { perLog: cfg.limits.evidencePerLog, totalBytes: cfg.limits.evidenceBytes }),
      logs: cfg.logs.map((l) => ({ origin: l.origin, verifiers: l.vkeys.map(verifierFromKey) })),
      cosigner,
      now,
      metrics: new WitnessMetrics(),
      logError: (err) => log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    })
    const s = serve({ fetch: app.fetch, hostname: cfg.listen.host, port: cfg.listen.port, serverOptions: HTTP_SERVER_OPTIONS })
    server = s
    await new Promise<void>((resolve, reject) => {
      s.once('listening', resolve)
      s.once('error', reject)
    })
  } catch (err) {
    // Release the directory lock: a failed start must not keep the data
    // directory from the next attempt.
    server?.close()
    await kv.close()
    throw err
  }
  const running = server
  const addr = running.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `http://${host}:${addr.port}`
  log(`witness ${cfg.name} listening on ${url} for ${cfg.logs.length} log(s)`)
  return {
    url,
    async close() {
      // Requests in flight finish (and their writes land) before the store
      // closes, so none is answered 503 because of the shutdown itself.
      await new Promise<void>((resolve) => running.close(() => resolve()))
      await kv.close()
    },
  }
}

export { loadWitnessConfig, type WitnessConfig } from './config.ts'
