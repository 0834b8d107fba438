/** `actlog issue-credential` refuses, before signing, what the chain rule would refuse, and says why. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { issueCredentialCommand, keygen } from '../../../src/cli/keys.ts'
import { UsageError } from '../../../src/cli/files.ts'

const dir = mkdtempSync(join(tmpdir(), 'actlog-issue-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const f = (n: string): string => join(dir, n)

describe('issue-credential and namespaces', () => {
  keygen({ kind: 'issuer', name: 'issuer.acme.example', out: f('issuer.key') })
  keygen({ kind: 'actor', name: 'spiffe://acme.example/agents/', out: f('ns.key') })
  keygen({ kind: 'actor', name: 'spiffe://acme.example/agents/payments', out: f('payments.key') })
  keygen({ kind: 'actor', name: 'spiffe://acme.example/workload/deployer', out: f('deployer.key') })

  it('issues a namespace credential, then agents under it', async () => {
    await issueCredentialCommand({ issuerKey: f('issuer.key'), subject: 'spiffe://acme.example/agents/', subjectKey: f('ns.key'), out: f('ns.cred') })
    const chain = await issueCredentialCommand({ issuerKey: f('ns.key'), chain: f('ns.cred'), subject: 'spiffe://acme.example/agents/payments', subjectKey: f('payments.key'), out: f('payments.cred') })
    expect(chain.map((c) => c.subject)).toEqual(['spiffe://acme.example/agents/payments', 'spiffe://acme.example/agents/'])
  })

  it('refuses to issue from an identity credential, saying why, and writes nothing', async () => {
    const p = issueCredentialCommand({ issuerKey: f('payments.key'), chain: f('payments.cred'), subject: 'spiffe://acme.example/workload/deployer', subjectKey: f('deployer.key'), out: f('minted.cred') })
    await expect(p).rejects.toThrow(UsageError)
    await expect(p).rejects.toThrow(/identity credential .*never issues/)
    expect(existsSync(f('minted.cred'))).toBe(false)
  })

  it('refuses to issue outside the namespace, and the namespace itself', async () => {
    keygen({ kind: 'actor', name: 'spiffe://acme.example/agents/', out: f('other-ns.key') })
    for (const [subject, key] of [
      ['spiffe://acme.example/workload/deployer', 'deployer.key'],
      ['spiffe://acme.example/agents/', 'other-ns.key'],
    ] as const) {
      await expect(issueCredentialCommand({ issuerKey: f('ns.key'), chain: f('ns.cred'), subject, subjectKey: f(key), out: f('outside.cred') })).rejects.toThrow(/outside the namespace/)
    }
    expect(existsSync(f('outside.cred'))).toBe(false)
  })
})
