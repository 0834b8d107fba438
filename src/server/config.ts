import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'

/**
 * The log's configuration file (JSON). Paths are relative to the file's
 * directory. Every field is checked here, so a mistake is reported with the
 * field's name before anything starts.
 */
export interface LogConfig {
  /** The log's origin: its checkpoint origin line and its key name. */
  origin: string
  /** LevelDB directory. */
  dataDir: string
  /** The log's signer key file (`PRIVATE+KEY+<origin>+...`). */
  keyFile: string
  /** Host and port to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port). */
  listen: { host: string; port: number }
  /** Trusted-issuers file. */
  issuersFile: string
  /** tlog-policy file naming the witnesses (with URLs) and the quorum; absent means no witnesses. */
  policyFile?: string
  batch: { maxEntries: number; maxDelayMs: number }
  /** Most statements in flight (received, not yet answered) before the log answers 503. */
  maxPending: number
  /** Largest difference between a statement's time and the log's clock. */
  maxClockSkewMs: number
  /** Longest wait of `?wait=witnessed`. */
  witnessWaitMs: number
  /** Per-witness request timeout. */
  witnessTimeoutMs: number
  /** Shortest time between the starts of two witnessing rounds. */
  witnessIntervalMs: number
  /** Limits on connections and slow clients. */
  http: HttpLimits
  /** Token buckets of submissions per identity and per organisation. */
  quotas: QuotaConfig
}

/** The log's limits on connections and slow clients (all times in ms). */
export interface HttpLimits {
  /** Longest time a client may take to send a request's headers. */
  headersTimeoutMs: number
  /** Longest time a request's body may take to arrive once its headers have (408 `TIMEOUT` after). */
  bodyTimeoutMs: number
  /** Longest time an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number
  /** Most open connections; the server closes new ones beyond it at once. */
  maxConnections: number
}

/** One token bucket: `burst` submissions at once, refilled at `perSecond`. */
export interface BucketConfig {
  perSecond: number
  burst: number
}

/** The submission quotas: one bucket per identity (actor), one per organisation (of the trusted issuer the chain ends at). */
export interface QuotaConfig {
  identity: BucketConfig
  organisation: BucketConfig
}

/** The defaults of optional fields. */
export const LOG_CONFIG_DEFAULTS = {
  batch: { maxEntries: 1024, maxDelayMs: 10 },
  maxPending: 4096,
  maxClockSkewSeconds: 300,
  witnessWaitSeconds: 10,
  witnessTimeoutSeconds: 5,
  witnessIntervalMs: 100,
  headersTimeoutSeconds: 10,
  bodyTimeoutSeconds: 10,
  keepAliveTimeoutSeconds: 5,
  maxConnections: 10_000,
  // Far above what one identity, or one organisation, of the demo or the
  // benchmark submits on any machine: an operator sets real ones.
  quotas: { identity: { perSecond: 5_000, burst: 50_000 }, organisation: { perSecond: 100_000, burst: 1_000_000 } },
}

function fail(file: string, field: string, why: string): never {
  throw new TypeError(`${file}: "${field}" ${why}`)
}

function str(o: Record<string, unknown>, k: string, file: string): string {
  const v = o[k]
  if (typeof v !== 'string' || v.length === 0) fail(file, k, 'must be a non-empty string')
  return v
}

function num(o: Record<string, unknown>, k: string, file: string, dflt: number, min: number, max: number): number {
  const v = o[k] ?? dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(file, k, `must be a number from ${min} to ${max}`)
  return v
}

/** Returns `host:port` parsed; throws TypeError naming the field. */
export function parseListen(s: string, file: string, field = 'listen'): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):([0-9]{1,5})$/.exec(s)
  if (m === null) fail(file, field, 'must be host:port, e.g. 127.0.0.1:8080')
  const port = Number(m[2])
  if (port > 65535) fail(file, field, 'has a port above 65535')
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

function quotas(v: unknown, file: string): QuotaConfig {
  const d = LOG_CONFIG_DEFAULTS.quotas
  if (v === undefined) return { identity: { ...d.identity }, organisation: { ...d.organisation } }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, 'quotas', 'must be an object { identity, organisation }')
  const q = v as Record<string, unknown>
  for (const k of Object.keys(q)) if (k !== 'identity' && k !== 'organisation') fail(file, `quotas.${k}`, 'is not a known setting (known: identity, organisation)')
  const bucket = (k: 'identity' | 'organisation'): BucketConfig => {
    const b = q[k] ?? {}
    if (typeof b !== 'object' || b === null || Array.isArray(b)) fail(file, `quotas.${k}`, 'must be an object { perSecond, burst }')
    const r = b as Record<string, unknown>
    for (const x of Object.keys(r)) if (x !== 'perSecond' && x !== 'burst') fail(file, `quotas.${k}.${x}`, 'is not a known setting (known: perSecond, burst)')
    return { perSecond: num(r, 'perSecond', `${file}: quotas.${k}`, d[k].perSecond, 0.001, 1e9), burst: num(r, 'burst', `${file}: quotas.${k}`, d[k].burst, 1, 1e12) }
  }
  return { identity: bucket('identity'), organisation: bucket('organisation') }
}

/** Reads and checks a log configuration file. Throws TypeError with the file and field on any mistake. */
export function loadLogConfig(file: string): LogConfig {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new TypeError(`${file}: cannot read the log configuration: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TypeError(`${file}: must hold a JSON object`)
  const o = raw as Record<string, unknown>
  const known = new Set(['origin', 'dataDir', 'keyFile', 'listen', 'issuersFile', 'policyFile', 'batch', 'maxPending', 'maxClockSkewSeconds', 'witnessWaitSeconds', 'witnessTimeoutSeconds', 'witnessIntervalMs', 'headersTimeoutSeconds', 'bodyTimeoutSeconds', 'keepAliveTimeoutSeconds', 'maxConnections', 'quotas'])
  for (const k of Object.keys(o)) if (!known.has(k)) fail(file, k, `is not a known setting (known: ${[...known].join(', ')})`)
  const base = dirname(resolve(file))
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p))
  const b = (o.batch ?? {}) as Record<string, unknown>
  if (typeof b !== 'object' || b === null) fail(file, 'batch', 'must be an object')
  const cfg: LogConfig = {
    origin: str(o, 'origin', file),
    dataDir: path(str(o, 'dataDir', file)),
    keyFile: path(str(o, 'keyFile', file)),
    listen: parseListen(str(o, 'listen', file), file),
    issuersFile: path(str(o, 'issuersFile', file)),
    batch: {
      maxEntries: num(b, 'maxEntries', file, LOG_CONFIG_DEFAULTS.batch.maxEntries, 1, 100_000),
      maxDelayMs: num(b, 'maxDelayMs', file, LOG_CONFIG_DEFAULTS.batch.maxDelayMs, 0, 60_000),
    },
    maxPending: num(o, 'maxPending', file, LOG_CONFIG_DEFAULTS.maxPending, 1, 10_000_000),
    maxClockSkewMs: num(o, 'maxClockSkewSeconds', file, LOG_CONFIG_DEFAULTS.maxClockSkewSeconds, 0, 365 * 86400) * 1000,
    witnessWaitMs: num(o, 'witnessWaitSeconds', file, LOG_CONFIG_DEFAULTS.witnessWaitSeconds, 0, 3600) * 1000,
    witnessTimeoutMs: num(o, 'witnessTimeoutSeconds', file, LOG_CONFIG_DEFAULTS.witnessTimeoutSeconds, 0.1, 600) * 1000,
    witnessIntervalMs: num(o, 'witnessIntervalMs', file, LOG_CONFIG_DEFAULTS.witnessIntervalMs, 0, 60_000),
    http: {
      headersTimeoutMs: num(o, 'headersTimeoutSeconds', file, LOG_CONFIG_DEFAULTS.headersTimeoutSeconds, 0.1, 600) * 1000,
      bodyTimeoutMs: num(o, 'bodyTimeoutSeconds', file, LOG_CONFIG_DEFAULTS.bodyTimeoutSeconds, 0.1, 600) * 1000,
      keepAliveTimeoutMs: num(o, 'keepAliveTimeoutSeconds', file, LOG_CONFIG_DEFAULTS.keepAliveTimeoutSeconds, 0.1, 600) * 1000,
      maxConnections: num(o, 'maxConnections', file, LOG_CONFIG_DEFAULTS.maxConnections, 1, 1_000_000),
    },
    quotas: quotas(o.quotas, file),
  }
  if (o.policyFile !== undefined) cfg.policyFile = path(str(o, 'policyFile', file))
  return cfg
}
