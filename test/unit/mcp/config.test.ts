import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCredentials, encodeKey, generateKey, issueCredentialChain } from '../../../src/client/index.ts'
import { loadGatewayConfig } from '../../../src/mcp/index.ts'

let dir: string
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
const example = /<!-- readme-test:gateway-config -->\n```json\n([\s\S]*?)\n```/.exec(readme)?.[1] ?? ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'actlog-gateway-config-'))
  const issuer = generateKey('issuer.acme.example', 'issuer')
  const agent = generateKey('spiffe://acme.example/agent/gateway')
  writeFileSync(join(dir, 'gateway.key'), encodeKey(agent))
  writeFileSync(join(dir, 'gateway.cred'), encodeCredentials(await issueCredentialChain(issuer, { subject: agent.name, subjectKey: agent })))
  writeFileSync(join(dir, 'other.key'), encodeKey(generateKey('spiffe://acme.example/agent/other')))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function load(over: Record<string, unknown>): ReturnType<typeof loadGatewayConfig> {
  const file = join(dir, 'g.json')
  writeFileSync(file, JSON.stringify({ ...(JSON.parse(example) as object), ...over }))
  return loadGatewayConfig(file)
}

describe('loadGatewayConfig', () => {
  it("loads the README's example, with paths relative to the file and the defaults", () => {
    const c = load({})
    expect(c.log).toBe('http://127.0.0.1:8080')
    expect(c.key.name).toBe('spiffe://acme.example/agent/gateway')
    expect(c.credentials[0]!.subject).toBe(c.key.name)
    expect(c.policy).toMatchObject({ id: 'agent-tools', version: '3' })
    expect(c.policy.decide('bank', 'transfer', { amount: 10, to: 'DE89' }).target).toBe('acct:DE89')
    expect(c).toMatchObject({ failOpen: false, waitWitnessed: false, logTimeoutMs: 10_000 })
  })

  it('refuses, naming the file and the field: an unknown field, a key without its credentials, a bad URL or timeout, a bad policy', () => {
    expect(() => load({ failopen: true })).toThrow(/g\.json: unknown field "failopen"/)
    expect(() => load({ keyFile: 'other.key' })).toThrow(/the credentials are for spiffe:\/\/acme.example\/agent\/gateway, but the key is spiffe:\/\/acme.example\/agent\/other/)
    expect(() => load({ keyFile: 'missing.key' })).toThrow(/"keyFile": cannot read/)
    expect(() => load({ log: 'ftp://x' })).toThrow(/"log" must be an http/)
    expect(() => load({ logTimeoutMs: 5 })).toThrow(/"logTimeoutMs" must be an integer/)
    expect(() => load({ failOpen: 'yes' })).toThrow(/"failOpen" must be true or false/)
    expect(() => load({ policy: { id: 'p', version: '1' } })).toThrow(/g\.json: the policy is not valid: policy must have required property 'tools'/)
  })
})
