import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { loadCredentials, loadKey, type Credential, type SignerKey } from '../client/index.ts'
import { ToolPolicy } from './policy.ts'

/**
 * The gateway's configuration (gateway.json). Paths are relative to the
 * file's directory.
 *
 * ```json
 * {
 *   "log": "http://127.0.0.1:8080",
 *   "keyFile": "gateway.key",
 *   "credentialsFile": "gateway.cred",
 *   "policy": {
 *     "id": "agent-tools", "version": "3",
 *     "delegation": [{ "principal": "user:alice@acme.example", "scope": "payments" }],
 *     "tools": {
 *       "transfer": { "action": "payments.transfer", "target": "acct:{to}",
 *                     "arguments": { "type": "object", "properties": { "amount": { "type": "number", "maximum": 1000 } } } },
 *       "get_balance": {}
 *     }
 *   }
 * }
 * ```
 */
export interface GatewayConfig {
  /** The log's base URL. */
  log: string
  /** The gateway's agent identity: its key (its name is the actor of every statement) and credential chain. */
  key: SignerKey
  credentials: Credential[]
  policy: ToolPolicy
  /** Forward calls when the log cannot be reached (logging a warning, and saying so in every result) instead of refusing them. */
  failOpen: boolean
  /** Forward a call only once a witnessed checkpoint covers its statement (slower; the default waits for the log's acknowledgement only). */
  waitWitnessed: boolean
  /** How long one submission to the log may take, retries included, in ms. */
  logTimeoutMs: number
}

const KNOWN = new Set(['log', 'keyFile', 'credentialsFile', 'policy', 'failOpen', 'waitWitnessed', 'logTimeoutMs'])

/** Reads and checks a gateway configuration file. Throws TypeError naming the file and the field on any mistake. */
export function loadGatewayConfig(file: string): GatewayConfig {
  const fail = (why: string): never => {
    throw new TypeError(`${file}: ${why}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    fail(`cannot read the gateway configuration: ${(e as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must hold a JSON object')
  const o = raw as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) fail(`unknown field "${k}" (known: ${[...KNOWN].join(', ')})`)
  const str = (k: string): string => {
    const v = o[k]
    if (typeof v !== 'string' || v.length === 0) fail(`"${k}" must be a non-empty string`)
    return v as string
  }
  const bool = (k: string): boolean => {
    const v = o[k] ?? false
    if (typeof v !== 'boolean') fail(`"${k}" must be true or false`)
    return v as boolean
  }
  const dir = dirname(file)
  const read = (k: string): string => {
    const path = str(k)
    const full = isAbsolute(path) ? path : resolve(dir, path)
    try {
      return readFileSync(full, 'utf8')
    } catch (e) {
      return fail(`"${k}": cannot read ${full}: ${(e as Error).message}`)
    }
  }
  const log = str('log')
  if (!/^https?:\/\/[^\s]+$/.test(log)) fail('"log" must be an http:// or https:// URL')
  const logTimeoutMs = o.logTimeoutMs ?? 10_000
  if (typeof logTimeoutMs !== 'number' || !Number.isSafeInteger(logTimeoutMs) || logTimeoutMs < 100 || logTimeoutMs > 600_000) {
    fail('"logTimeoutMs" must be an integer from 100 to 600000')
  }
  let key: SignerKey
  let credentials: Credential[]
  try {
    key = loadKey(read('keyFile'))
    credentials = loadCredentials(read('credentialsFile'))
  } catch (e) {
    if (e instanceof TypeError) throw e
    return fail(`the key or credentials file is not valid: ${(e as Error).message}`)
  }
  if (credentials[0]!.subject !== key.name) fail(`the credentials are for ${credentials[0]!.subject}, but the key is ${key.name}`)
  let policy: ToolPolicy
  try {
    policy = new ToolPolicy(o.policy)
  } catch (e) {
    return fail((e as Error).message)
  }
  return { log, key, credentials, policy, failOpen: bool('failOpen'), waitWitnessed: bool('waitWitnessed'), logTimeoutMs: logTimeoutMs as number }
}
