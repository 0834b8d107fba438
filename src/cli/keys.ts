import {
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  MAX_CHAIN_LENGTH,
  bytesEqual,
  generateSeed,
  isNamespace,
  isUnderNamespace,
  issueCredential,
  isValidKeyName,
  parseVerifierKey,
  type Credential,
} from '../core/index.ts'
import { readCredentialFile, readKeyFile, UsageError, vkeyOf, writeCredentialFile, writeKeyFile } from './files.ts'
import { parseDuration, parseTime } from './time.ts'

/** The kinds of keys actlog uses. Witness keys sign cosignature/v1 (type 0x04); the rest sign plain Ed25519 (0x01). */
export const KEY_KINDS = ['log', 'witness', 'issuer', 'actor'] as const
export type KeyKind = (typeof KEY_KINDS)[number]

/**
 * `actlog keygen`: writes a new key and returns its verifier key. The key
 * name is what others configure: the log's origin, the witness's name, the
 * issuer name credentials carry, or the actor's identity.
 */
export function keygen(opts: { kind: string; name: string; out: string; force?: boolean }): string {
  if (!(KEY_KINDS as readonly string[]).includes(opts.kind)) throw new UsageError(`--kind must be one of ${KEY_KINDS.join(', ')}`)
  if (!isValidKeyName(opts.name)) throw new UsageError(`--name ${JSON.stringify(opts.name)} is not a valid key name: it must be non-empty, without spaces or "+"`)
  const type = opts.kind === 'witness' ? SIG_TYPE_COSIGNATURE_V1 : SIG_TYPE_ED25519
  writeKeyFile(opts.out, opts.name, type, generateSeed(), opts.force === true)
  return vkeyOf(readKeyFile(opts.out))
}

/** Options of `actlog issue-credential`. */
export interface IssueOptions {
  issuerKey: string
  subject: string
  subjectKey?: string
  subjectVkey?: string
  chain?: string
  notBefore?: string
  notAfter?: string
  validFor?: string
  out: string
  now?: number
}

/**
 * `actlog issue-credential`: the issuer signs a credential binding the
 * subject to its key, and writes the chain (the new credential, then the
 * issuer's own chain when it is an intermediate) to `out`.
 */
export async function issueCredentialCommand(o: IssueOptions): Promise<Credential[]> {
  const issuer = readKeyFile(o.issuerKey)
  if (issuer.type !== SIG_TYPE_ED25519) throw new UsageError(`${o.issuerKey} is not an issuer key (it has signature type ${issuer.type})`)
  let subjectKey: Uint8Array
  if (o.subjectKey !== undefined) {
    const k = readKeyFile(o.subjectKey)
    if (k.name !== o.subject) throw new UsageError(`${o.subjectKey} is the key of ${k.name}, not of --subject ${o.subject}`)
    subjectKey = k.publicKey
  } else if (o.subjectVkey !== undefined) {
    subjectKey = parseVerifierKey(o.subjectVkey).publicKey
  } else {
    throw new UsageError('give the subject key: --subject-key <file> or --subject-vkey <vkey>')
  }
  const now = o.now ?? Date.now()
  const notBefore = o.notBefore === undefined ? now - 60_000 : parseTime(o.notBefore, '--not-before')
  const notAfter = o.notAfter !== undefined ? parseTime(o.notAfter, '--not-after') : notBefore + parseDuration(o.validFor ?? '90d', '--valid-for')
  if (notAfter < notBefore) throw new UsageError('--not-after is before --not-before')
  const parent = o.chain === undefined ? [] : readCredentialFile(o.chain)
  // Refused before anything is signed: a credential the chain rule refuses
  // must never exist (DESIGN.md "Issuing authority").
  if (parent.length > 0) {
    const own = parent[0]!
    if (own.subject !== issuer.name) throw new UsageError(`--chain ${o.chain} is for ${own.subject}, but the issuer key is ${issuer.name}`)
    if (!bytesEqual(own.subjectKey, issuer.publicKey)) throw new UsageError(`--chain ${o.chain} binds ${own.subject} to another key than ${o.issuerKey}`)
    if (!isNamespace(own.subject)) {
      throw new UsageError(
        `${own.subject} is an identity credential (its subject does not end in / or :): its key signs its own actions and never issues credentials. Ask the issuer of a namespace (e.g. ${own.subject.replace(/[^/:]*$/, '')}) to issue this one`,
      )
    }
    if (!isUnderNamespace(o.subject, own.subject)) {
      throw new UsageError(`${o.subject} is outside the namespace ${own.subject}: its key may issue only subjects that start with ${own.subject} and are longer`)
    }
  }
  if (parent.length + 1 > MAX_CHAIN_LENGTH) throw new UsageError(`a credential chain has at most ${MAX_CHAIN_LENGTH} credentials`)
  const cred = await issueCredential({ issuer: issuer.name, subject: o.subject, subjectKey, notBefore, notAfter }, issuer.seed)
  const chain = [cred, ...parent]
  writeCredentialFile(o.out, chain, `credential chain of ${o.subject}, issued by ${issuer.name}`)
  return chain
}
