/** The examples in docs/formats.md are real outputs: recompute each and compare. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../../src/core/bytes.ts'
import { decodeCbor } from '../../../src/core/codec.ts'
import { credentialSignedBytes, parseCredential } from '../../../src/core/credential.ts'
import { leafHash } from '../../../src/core/hash.ts'
import { encodeTrustedIssuers, parseTrustedIssuers } from '../../../src/core/policy.ts'
import { buildStatement, parseStatement } from '../../../src/core/statement.ts'
import { buildRevocation, parseRevocation } from '../../../src/core/revocation.ts'
import { toDiagnostic, wrapHex } from '../../helpers/edn.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

const doc = readFileSync(new URL('../../../docs/formats.md', import.meta.url), 'utf8')

function example(name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\n\`\`\`\\n([\\s\\S]*?)\\n\`\`\``).exec(doc)
  if (m === null) throw new Error(`docs/formats.md has no example ${name}`)
  return m[1]!
}

describe('docs/formats.md examples', async () => {
  const V = loadSharedStatementVectors()
  const v = V.valid[0]
  const parsed = parseStatement(fromHex(v.entry_hex))
  const credentials = (v.credentials_hex as string[]).map((h) => parseCredential(fromHex(h)))
  // Rebuilt by this code base from the seed, fields and credentials, not copied from the vector.
  const entry = await buildStatement(parsed.statement, { seed: fromHex(V.keys.agent.seed_hex), credentials })
  const s = parseStatement(entry)

  it('shows the protected header and payload of the statement', () => {
    expect(example('protected')).toBe(toDiagnostic(decodeCbor(s.protectedHeader)))
    expect(example('payload')).toBe(toDiagnostic(decodeCbor(s.payload)))
  })

  it('shows the entry bytes and their leaf hash', () => {
    expect(example('entry')).toBe(wrapHex(toHex(entry)))
    expect(doc).toContain(`The complete statement (${entry.length} bytes)`)
    expect(example('leaf-hash')).toBe(toHex(leafHash(entry)))
  })

  it('shows the credential and the bytes its issuer signed', () => {
    expect(example('credential')).toBe(toDiagnostic(decodeCbor(fromHex(v.credentials_hex[0]))))
    expect(example('credential-signed')).toBe(wrapHex(toHex(credentialSignedBytes(credentials[0]!))))
  })

  it('shows an issuers file that parses to the vectors\' issuer', () => {
    const t = parseTrustedIssuers(example('issuers') + '\n')
    expect(encodeTrustedIssuers(t)).toBe(V.issuers_file)
  })

  it('shows a chain through a namespace, as the vectors hold it', () => {
    const ns = V.valid.find((x: { name: string }) => x.name === 'minimal statement, chain through a namespace')
    const chain = (decodeCbor(parseStatement(fromHex(ns.entry_hex)).protectedHeader) as Map<number, unknown>).get(-70001)
    expect(example('namespace-chain')).toBe(toDiagnostic(chain as never))
    expect(doc).toContain('"minimal statement, chain through a namespace"')
  })

  it('lists instruction in the payload table and the key order', () => {
    expect(doc).toMatch(/\| `instruction` \| bstr, 32 bytes \| no \|/)
    expect(doc).toContain('target, approval, delegation, instruction`')
  })

  it('shows a revocation entry rebuilt from the revoker seed, its parts and its leaf hash', async () => {
    const rv = V.revocations_valid.find((x: { name: string }) => x.name === 'by the namespace key')
    const parsed = parseRevocation(fromHex(rv.entry_hex))
    // Rebuilt by this code base from the seed, fields and chain, not copied from the vector.
    const entry = await buildRevocation(parsed.revocation, { seed: fromHex(V.keys.intermediate.seed_hex), credentials: parsed.credentials })
    const r = parseRevocation(entry)
    expect(example('revocation-protected')).toBe(toDiagnostic(decodeCbor(r.protectedHeader)))
    expect(example('revocation-payload')).toBe(toDiagnostic(decodeCbor(r.payload)))
    expect(example('revocation-entry')).toBe(wrapHex(toHex(entry)))
    expect(doc).toContain(`The complete entry (${entry.length} bytes)`)
    expect(example('revocation-leaf-hash')).toBe(toHex(leafHash(entry)))
    expect(toHex(leafHash(entry))).toBe(rv.leaf_hash_hex)
  })
})
