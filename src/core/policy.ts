import { bytesEqual, fromUtf8, utf8 } from './bytes.ts'
import { TlogError } from './errors.ts'
import { SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519 } from './hash.ts'
import { parseVerifierKey, type VerifierKey } from './note.ts'

/**
 * c2sp.org/tlog-policy (which log keys and witness keys to trust, and the
 * witness quorum), and actlog's trusted-issuers file, which is written in the
 * same line-based style.
 */

/** Largest policy or issuers file accepted. */
export const MAX_POLICY_SIZE = 64 * 1024
/** Most logs, witnesses and groups each (tlog-policy recommends supporting at least 32). */
export const MAX_POLICY_ENTRIES = 256
/** The predefined quorum name that requires no cosignatures. */
export const QUORUM_NONE = 'none'

/** A log of a policy. Its key name is its checkpoint origin. */
export interface PolicyLog {
  key: VerifierKey
  vkey: string
  url?: string
}

/** A witness of a policy, with a cosignature/v1 (type 0x04) key. */
export interface PolicyWitness {
  name: string
  key: VerifierKey
  vkey: string
  url?: string
}

/** A witness group: witnessed when at least `threshold` of its members are. */
export interface PolicyGroup {
  name: string
  threshold: number
  members: string[]
  /** How the threshold was written, for re-encoding: 'all', 'any' or the number. */
  spelling: 'all' | 'any' | 'number'
}

/** A parsed tlog-policy. */
export interface Policy {
  logs: PolicyLog[]
  witnesses: Map<string, PolicyWitness>
  groups: Map<string, PolicyGroup>
  /** A witness name, a group name, or 'none'. */
  quorum: string
}

function fields(line: string): string[] {
  return line.split(/[ \t]+/).filter((f) => f.length > 0)
}

/** Splits a policy-style file into its meaningful lines (1-based numbers), enforcing the character set. */
function meaningfulLines(input: string | Uint8Array, what: string): { n: number; f: string[] }[] {
  const bytes = typeof input === 'string' ? utf8(input) : input
  if (bytes.length > MAX_POLICY_SIZE) throw new TlogError('TOO_LARGE', `${what} is larger than ${MAX_POLICY_SIZE} bytes`)
  for (const b of bytes) {
    if (b !== 0x09 && b !== 0x0a && (b < 0x20 || b === 0x7f)) throw new TlogError('MALFORMED', `${what} contains a control character`)
  }
  // tlog-policy treats high-bit octets as opaque; actlog requires them to be
  // UTF-8 so that names compare the same way everywhere they are shown.
  const text = fromUtf8(bytes)
  const out: { n: number; f: string[] }[] = []
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  lines.forEach((line, i) => {
    const t = line.replace(/^[ \t]+/, '')
    if (t.length === 0 || t.startsWith('#')) return
    out.push({ n: i + 1, f: fields(t) })
  })
  return out
}

/**
 * Returns the policy in a tlog-policy file. Strict: known line types only;
 * log keys of type 0x01 and witness keys of type 0x04; no duplicate keys
 * (same Ed25519 key under any name); names unique across witnesses and
 * groups, never `none`; groups and the quorum refer only to names defined
 * on earlier lines; each member at most once per group; 1 <= k <= n; exactly
 * one quorum line. Throws MALFORMED naming the line.
 */
export function parsePolicy(input: string | Uint8Array): Policy {
  const logs: PolicyLog[] = []
  const witnesses = new Map<string, PolicyWitness>()
  const groups = new Map<string, PolicyGroup>()
  let quorum: string | undefined
  const keys: Uint8Array[] = []
  for (const { n, f } of meaningfulLines(input, 'policy')) {
    const bad = (why: string): TlogError => new TlogError('MALFORMED', `policy line ${n}: ${why}`)
    const key = (vkey: string, type: number): VerifierKey => {
      let k: VerifierKey
      try {
        k = parseVerifierKey(vkey)
      } catch (e) {
        throw bad(e instanceof Error ? e.message : 'bad key')
      }
      if (k.type !== type) throw bad(`key must have signature type 0x0${type}`)
      if (keys.some((other) => bytesEqual(other, k.publicKey))) throw bad('duplicate key')
      keys.push(k.publicKey)
      return k
    }
    const defined = (name: string): boolean => witnesses.has(name) || groups.has(name)
    switch (f[0]) {
      case 'log': {
        if (f.length < 2 || f.length > 3) throw bad('expected "log <vkey> [<url>]"')
        if (logs.length >= MAX_POLICY_ENTRIES) throw bad('too many logs')
        const l: PolicyLog = { key: key(f[1]!, SIG_TYPE_ED25519), vkey: f[1]! }
        if (f[2] !== undefined) l.url = f[2]
        logs.push(l)
        break
      }
      case 'witness': {
        if (f.length < 3 || f.length > 4) throw bad('expected "witness <name> <vkey> [<url>]"')
        const name = f[1]!
        if (name === QUORUM_NONE) throw bad('"none" is reserved')
        if (defined(name)) throw bad(`name ${name} is already defined`)
        if (witnesses.size >= MAX_POLICY_ENTRIES) throw bad('too many witnesses')
        const w: PolicyWitness = { name, key: key(f[2]!, SIG_TYPE_COSIGNATURE_V1), vkey: f[2]! }
        if (f[3] !== undefined) w.url = f[3]
        witnesses.set(name, w)
        break
      }
      case 'group': {
        if (f.length < 4) throw bad('expected "group <name> <all|any|k> <member>..."')
        const name = f[1]!
        if (name === QUORUM_NONE) throw bad('"none" is reserved')
        if (defined(name)) throw bad(`name ${name} is already defined`)
        if (groups.size >= MAX_POLICY_ENTRIES) throw bad('too many groups')
        const members = f.slice(3)
        const seen = new Set<string>()
        for (const m of members) {
          if (m === QUORUM_NONE) throw bad('"none" cannot be a group member')
          if (!defined(m)) throw bad(`member ${m} is not defined on an earlier line`)
          if (seen.has(m)) throw bad(`member ${m} is listed twice`)
          seen.add(m)
        }
        const t = f[2]!
        let threshold: number
        let spelling: PolicyGroup['spelling']
        if (t === 'all') {
          threshold = members.length
          spelling = 'all'
        } else if (t === 'any') {
          threshold = 1
          spelling = 'any'
        } else {
          if (!/^[1-9][0-9]{0,3}$/.test(t)) throw bad('threshold must be all, any or a decimal k')
          threshold = Number(t)
          spelling = 'number'
          if (threshold > members.length) throw bad('threshold is larger than the number of members')
        }
        groups.set(name, { name, threshold, members, spelling })
        break
      }
      case 'quorum': {
        if (f.length !== 2) throw bad('expected "quorum <name>"')
        if (quorum !== undefined) throw bad('a policy has exactly one quorum line')
        const name = f[1]!
        if (name !== QUORUM_NONE && !defined(name)) throw bad(`quorum ${name} is not defined on an earlier line`)
        quorum = name
        break
      }
      default:
        throw bad(`unknown line type ${JSON.stringify(f[0])}`)
    }
  }
  if (quorum === undefined) throw new TlogError('MALFORMED', 'policy has no quorum line')
  return { logs, witnesses, groups, quorum }
}

/** Returns a canonical policy file for `policy`: logs, witnesses, groups in definition order, then the quorum. */
export function encodePolicy(policy: Policy): string {
  const lines: string[] = []
  for (const l of policy.logs) lines.push(['log', l.vkey, ...(l.url === undefined ? [] : [l.url])].join(' '))
  for (const w of policy.witnesses.values()) lines.push(['witness', w.name, w.vkey, ...(w.url === undefined ? [] : [w.url])].join(' '))
  for (const g of policy.groups.values()) {
    const t = g.spelling === 'number' ? String(g.threshold) : g.spelling
    lines.push(['group', g.name, t, ...g.members].join(' '))
  }
  lines.push(`quorum ${policy.quorum}`)
  return lines.join('\n') + '\n'
}

/** Returns whether the witnesses named in `cosigners` (whose cosignatures verified) satisfy the quorum. */
export function quorumSatisfied(policy: Policy, cosigners: ReadonlySet<string>): boolean {
  if (policy.quorum === QUORUM_NONE) return true
  const memo = new Map<string, boolean>()
  const witnessed = (name: string): boolean => {
    const known = memo.get(name)
    if (known !== undefined) return known
    let v: boolean
    const g = policy.groups.get(name)
    if (g === undefined) v = policy.witnesses.has(name) && cosigners.has(name)
    else v = g.members.filter(witnessed).length >= g.threshold
    memo.set(name, v)
    return v
  }
  return witnessed(policy.quorum)
}

/**
 * Returns the earliest time by which the quorum was met: the smallest t such
 * that the witnesses whose cosignature time is <= t satisfy the quorum, or
 * undefined when all of them together do not. `times` maps witness name to
 * cosignature timestamp (seconds). With quorum `none` it returns undefined:
 * no witness vouches for any time.
 */
export function earliestQuorumTime(policy: Policy, times: ReadonlyMap<string, number>): number | undefined {
  if (policy.quorum === QUORUM_NONE) return undefined
  const sorted = [...times.entries()].sort((a, b) => a[1] - b[1])
  const set = new Set<string>()
  for (const [name, t] of sorted) {
    set.add(name)
    if (quorumSatisfied(policy, set)) return t
  }
  return undefined
}

/** A trusted issuer: credentials naming `name` in `issuer` may be signed by `publicKey`. */
export interface TrustedIssuer {
  /** The organisation, as the file names it (used to group audit reports). */
  org: string
  /** The key name, which credentials carry in their `issuer` field. */
  name: string
  publicKey: Uint8Array
  vkey: string
  /** Actors of chains ending at this key MUST start with this prefix (ends in `/` or `:`). */
  subjectPrefix: string
}

/** A parsed trusted-issuers file. */
export interface TrustedIssuers {
  issuers: TrustedIssuer[]
}

/** Longest subject prefix accepted, in bytes (the longest actor is 1024 bytes). */
const MAX_PREFIX = 1024

/**
 * Returns the trusted issuers in an issuers file: lines
 * `issuer <org> <vkey> <subject-prefix>`, with `#` comments and blank lines.
 * Strict: type 0x01 keys, no key listed twice, prefixes ending in `/` or
 * `:`, and lines sharing a key name share the organisation. Throws MALFORMED.
 */
export function parseTrustedIssuers(input: string | Uint8Array): TrustedIssuers {
  const issuers: TrustedIssuer[] = []
  for (const { n, f } of meaningfulLines(input, 'issuers file')) {
    const bad = (why: string): TlogError => new TlogError('MALFORMED', `issuers file line ${n}: ${why}`)
    if (f[0] !== 'issuer') throw bad(`unknown line type ${JSON.stringify(f[0])}`)
    if (f.length !== 4) throw bad('expected "issuer <org> <vkey> <subject-prefix>"')
    const [, org, vkey, prefix] = f as [string, string, string, string]
    let key: VerifierKey
    try {
      key = parseVerifierKey(vkey)
    } catch (e) {
      throw bad(e instanceof Error ? e.message : 'bad key')
    }
    if (key.type !== SIG_TYPE_ED25519) throw bad('issuer keys have signature type 0x01')
    if (!(prefix.endsWith('/') || prefix.endsWith(':'))) throw bad('subject prefix must end in "/" or ":"')
    if (utf8(prefix).length > MAX_PREFIX) throw bad('subject prefix is too long')
    if (issuers.some((i) => bytesEqual(i.publicKey, key.publicKey))) throw bad('key is listed twice')
    if (issuers.some((i) => i.name === key.name && i.org !== org)) throw bad(`issuer ${key.name} is listed under two organisations`)
    if (issuers.length >= MAX_POLICY_ENTRIES) throw bad('too many issuers')
    issuers.push({ org, name: key.name, publicKey: key.publicKey, vkey, subjectPrefix: prefix })
  }
  return { issuers }
}

/** Returns the canonical issuers file for `t`. */
export function encodeTrustedIssuers(t: TrustedIssuers): string {
  return t.issuers.map((i) => `issuer ${i.org} ${i.vkey} ${i.subjectPrefix}\n`).join('')
}
