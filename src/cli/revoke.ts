import { existsSync, writeFileSync } from 'node:fs'
import { buildRevocation, bytesEqual, isNamespace, isUnderNamespace, parseVerifierKey, type Revocation } from '../core/index.ts'
import { submitStatement, type AddReply } from './client.ts'
import { readCredentialFile, readKeyFile, UsageError } from './files.ts'
import { parseTime } from './time.ts'

/** Options of `actlog revoke`. */
export interface RevokeOptions {
  log: string
  subject: string
  /** The revoked key: a verifier key, or a key file (only its public key is read). */
  key: string
  reason: string
  since?: string
  signerKey: string
  chain?: string
  out?: string
  waitWitnessed?: boolean
  now?: number
}

/** Returns the public key of `--key`: a vkey (`name+hash+base64`) or a key file. */
function revokedKey(key: string): Uint8Array {
  if (!existsSync(key) && key.includes('+')) {
    try {
      return parseVerifierKey(key).publicKey
    } catch (e) {
      throw new UsageError(`--key ${key} is neither a key file nor a verifier key: ${(e as Error).message}`)
    }
  }
  return readKeyFile(key).publicKey
}

/**
 * `actlog revoke`: signs a revocation of (subject, key) with the signer's
 * key and chain (none for a trusted issuer key), submits it to the log and
 * writes its `.tlog-proof`. Refuses, before signing, a revocation the
 * signer has no authority for: its own pair (self), a subject strictly
 * inside its namespace credential, or, with no chain, anything (the log
 * checks the issuer's prefix).
 */
export async function revoke(o: RevokeOptions): Promise<AddReply & { file: string }> {
  const signer = readKeyFile(o.signerKey)
  const key = revokedKey(o.key)
  const chain = o.chain === undefined ? [] : readCredentialFile(o.chain)
  const now = o.now ?? Date.now()
  const r: Revocation = { subject: o.subject, key, time: now, reason: o.reason }
  if (o.since !== undefined) {
    r.since = parseTime(o.since, '--since')
    if (r.since > now) throw new UsageError('--since is in the future: it is the earliest time the key may have been compromised')
  }
  if (chain.length > 0) {
    const own = chain[0]!
    if (!bytesEqual(own.subjectKey, signer.publicKey)) throw new UsageError(`--chain ${o.chain} binds ${own.subject} to another key than --signer-key ${o.signerKey}`)
    const self = own.subject === o.subject && bytesEqual(key, signer.publicKey)
    if (!self && !(isNamespace(own.subject) && isUnderNamespace(o.subject, own.subject))) {
      throw new UsageError(
        isNamespace(own.subject)
          ? `${own.subject} may revoke only subjects strictly inside it, not ${o.subject}`
          : `${own.subject} is an identity credential: its key may revoke only itself (--subject ${own.subject} --key <its own key>)`,
      )
    }
  }
  const entry = await buildRevocation(r, { seed: signer.seed, credentials: chain })
  const reply = await submitStatement(o.log, entry, { waitWitnessed: o.waitWitnessed === true })
  const file = o.out ?? `${reply.index}.tlog-proof`
  writeFileSync(file, reply.proof)
  return { ...reply, file }
}
