import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { SIG_TYPE_ED25519, isValidKeyName, parseVerifierKey, type VerifierKey } from '../src/core/index.ts'
import { DEFAULT_EVIDENCE_LIMITS, type EvidenceLimits } from './state.ts'

/**
 * The witness's configuration file (JSON). Paths are relative to the file's
 * directory. Every field is checked here, so a mistake is reported with the
 * field's name before anything starts. Example:
 *
 * ```json
 * {
 *   "name": "witness.example.org/w1",
 *   "keyFile": "witness.key",
 *   "dataDir": "data",
 *   "listen": "127.0.0.1:7380",
 *   "logs": [
 *     { "origin": "go.sum database tree",
 *       "vkeys": ["sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"] },
 *     { "origin": "log.example.org/actions", "vkeys": ["log.example.org/actions+...+..."] }
 *   ],
 *   "limits": { "evidencePerLog": 100, "evidenceBytes": 67108864 }
 * }
 * ```
 */
export interface WitnessConfig {
  /** The witness's key name, as it appears in its cosignature lines. */
  name: string
  /** The witness's signer key file: `PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)`. */
  keyFile: string
  /** LevelDB directory of the witness's state (its own, never a log's). */
  dataDir: string
  /** Host and port to listen on (port 0 picks a free port). */
  listen: { host: string; port: number }
  /** The logs it witnesses: origin and the Ed25519 (type 0x01) keys trusted to sign its checkpoints. */
  logs: { origin: string; vkeys: VerifierKey[] }[]
  /** Bounds of the evidence kept. */
  limits: { evidencePerLog: number; evidenceBytes: number }
}

/** The defaults of `limits`. */
export const WITNESS_CONFIG_DEFAULTS: Readonly<{ evidencePerLog: number; evidenceBytes: number }> = Object.freeze({
  evidencePerLog: DEFAULT_EVIDENCE_LIMITS.perLog,
  evidenceBytes: DEFAULT_EVIDENCE_LIMITS.totalBytes,
})

const TOP_KEYS = ['name', 'keyFile', 'dataDir', 'listen', 'logs', 'limits']
const LOG_KEYS = ['origin', 'vkeys']
const LIMIT_KEYS = ['evidencePerLog', 'evidenceBytes']

function fail(file: string, field: string, why: string): never {
  throw new TypeError(`${file}: "${field}" ${why}`)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function onlyKnown(o: Record<string, unknown>, known: string[], file: string, at: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) fail(file, `${at}${k}`, `is not a known setting (known: ${known.join(', ')})`)
}

function str(o: Record<string, unknown>, k: string, file: string, at = ''): string {
  const v = o[k]
  if (typeof v !== 'string' || v.length === 0) fail(file, `${at}${k}`, 'must be a non-empty string')
  return v
}

function int(o: Record<string, unknown>, k: string, file: string, at: string, dflt: number, min: number, max: number): number {
  const v = o[k] ?? dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(file, `${at}${k}`, `must be a whole number from ${min} to ${max}`)
  return v
}

/** Returns `host:port` parsed; throws TypeError naming the field. */
export function parseListenAddress(s: string, file: string, field = 'listen'): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):([0-9]{1,5})$/.exec(s)
  if (m === null) fail(file, field, 'must be host:port, e.g. 127.0.0.1:7380 or [::1]:7380')
  const port = Number(m[2])
  if (port > 65535) fail(file, field, 'has a port above 65535')
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

function parseLogs(v: unknown, file: string): WitnessConfig['logs'] {
  if (!Array.isArray(v) || v.length === 0) fail(file, 'logs', 'must be a non-empty array of { "origin": ..., "vkeys": [...] }')
  const seen = new Set<string>()
  return v.map((entry: unknown, i) => {
    const at = `logs[${i}].`
    if (!isObject(entry)) fail(file, `logs[${i}]`, 'must be an object { "origin": ..., "vkeys": [...] }')
    onlyKnown(entry, LOG_KEYS, file, at)
    const origin = str(entry, 'origin', file, at)
    // The origin is the first line of a checkpoint: one line of text.
    if (hasControl(origin)) fail(file, `${at}origin`, 'must be one line without control characters')
    if (seen.has(origin)) fail(file, `${at}origin`, `repeats the origin ${JSON.stringify(origin)}; list each log once, with all its keys`)
    seen.add(origin)
    const raw = entry.vkeys
    if (!Array.isArray(raw) || raw.length === 0) fail(file, `${at}vkeys`, 'must be a non-empty array of verifier keys (<name>+<key ID>+<base64 key>)')
    const vkeys: VerifierKey[] = []
    raw.forEach((s: unknown, j) => {
      const field = `${at}vkeys[${j}]`
      if (typeof s !== 'string') fail(file, field, 'must be a verifier key string')
      let key: VerifierKey
      try {
        key = parseVerifierKey(s)
      } catch (e) {
        fail(file, field, `is not a valid verifier key: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (key.type !== SIG_TYPE_ED25519) fail(file, field, `has signature type ${key.type}; a log's checkpoint key is Ed25519 (type 1), not a witness key`)
      if (!vkeys.some((k) => k.keyId === key.keyId && k.name === key.name)) vkeys.push(key)
    })
    return { origin, vkeys }
  })
}

/** Reads and checks a witness configuration file. Throws TypeError with the file and field on any mistake. */
export function loadWitnessConfig(file: string): WitnessConfig {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new TypeError(`${file}: cannot read the witness configuration: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (!isObject(raw)) throw new TypeError(`${file}: must hold a JSON object`)
  onlyKnown(raw, TOP_KEYS, file, '')
  const base = dirname(resolve(file))
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p))
  const name = str(raw, 'name', file)
  if (!isValidKeyName(name)) fail(file, 'name', 'must be a valid key name: no spaces, no "+", at most 256 bytes')
  const limits = raw.limits ?? {}
  if (!isObject(limits)) fail(file, 'limits', 'must be an object')
  onlyKnown(limits, LIMIT_KEYS, file, 'limits.')
  return {
    name,
    keyFile: path(str(raw, 'keyFile', file)),
    dataDir: path(str(raw, 'dataDir', file)),
    listen: parseListenAddress(str(raw, 'listen', file), file),
    logs: parseLogs(raw.logs, file),
    limits: {
      evidencePerLog: int(limits, 'evidencePerLog', file, 'limits.', WITNESS_CONFIG_DEFAULTS.evidencePerLog, 0, 1_000_000),
      // At least 1 MiB, so that one maximal request always fits.
      evidenceBytes: int(limits, 'evidenceBytes', file, 'limits.', WITNESS_CONFIG_DEFAULTS.evidenceBytes, 1024 * 1024, 2 ** 40),
    },
  }
}
