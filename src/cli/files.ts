import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  encodeCredential,
  encodeSignerKey,
  encodeVerifierKey,
  fromBase64,
  parseCredential,
  parseSignerKey,
  toBase64,
  type Credential,
  type SignerKey,
} from '../core/index.ts'

/**
 * Key and credential files. Keys use the Go signed-note signer-key format
 * (`PRIVATE+KEY+<name>+<key ID>+<base64>`), one per file, readable only by
 * the owner. A credential file lists a chain, one base64 credential (its
 * deterministic CBOR) per line, the actor's first; `#` lines are comments.
 */

/** Writes a signer key to `file` (mode 0600), refusing to overwrite unless `force`. */
export function writeKeyFile(file: string, name: string, type: number, seed: Uint8Array, force = false): void {
  if (existsSync(file) && !force) throw new UsageError(`${file} already exists; remove it or pass --force to replace the key`)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, encodeSignerKey(name, type, seed) + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
}

/** Reads a signer key file. */
export function readKeyFile(file: string): SignerKey {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`cannot read the key file ${file}: ${(e as Error).message}`)
  }
  return parseSignerKey(text.trim())
}

/** Returns the verifier key of a signer key. */
export function vkeyOf(k: SignerKey): string {
  return encodeVerifierKey(k.name, k.type, k.publicKey)
}

/** Writes a credential chain file (actor's credential first). */
export function writeCredentialFile(file: string, chain: readonly Credential[], comment?: string): void {
  mkdirSync(dirname(file), { recursive: true })
  const lines = comment === undefined ? [] : [`# ${comment}`]
  for (const c of chain) lines.push(toBase64(encodeCredential(c)))
  writeFileSync(file, lines.join('\n') + '\n')
}

/** Reads a credential chain file. */
export function readCredentialFile(file: string): Credential[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`cannot read the credential file ${file}: ${(e as Error).message}`)
  }
  const chain = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => parseCredential(fromBase64(l)))
  if (chain.length === 0) throw new UsageError(`${file} holds no credential`)
  return chain
}

/** A mistake in how the command was called: printed with the usage hint, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
