import { describe, expect, it } from 'vitest'
import { ToolPolicy } from '../../../src/mcp/index.ts'

const POLICY = {
  id: 'agent-tools',
  version: '3',
  delegation: [{ principal: 'user:alice@acme.example', scope: 'payments' }],
  tools: {
    get_balance: {},
    transfer: {
      action: 'payments.transfer',
      target: 'acct:{to}',
      arguments: { type: 'object', properties: { amount: { type: 'number', maximum: 100 }, to: { type: 'string', pattern: '^[A-Z]{2}[0-9]+$' } }, required: ['amount', 'to'] },
      delegation: [{ principal: 'user:bob@acme.example', scope: 'transfers' }],
    },
  },
}

describe('ToolPolicy', () => {
  const policy = new ToolPolicy(POLICY)

  it('allows a listed tool, naming the action and target from its mapping and arguments', () => {
    expect(policy.decide('bank', 'transfer', { amount: 20, to: 'DE89' })).toEqual({
      decision: 'allow',
      action: 'payments.transfer',
      target: 'acct:DE89',
      delegation: [{ principal: 'user:bob@acme.example', scope: 'transfers' }],
    })
  })

  it('defaults the action to the tool name, the target to the tool URI and the delegation to the policy\'s', () => {
    expect(policy.decide('bank', 'get_balance', undefined)).toEqual({
      decision: 'allow',
      action: 'get_balance',
      target: 'mcp://bank/get_balance',
      delegation: [{ principal: 'user:alice@acme.example', scope: 'payments' }],
    })
  })

  it('denies a tool that is not listed', () => {
    const d = policy.decide('bank', 'delete_account', {})
    expect(d).toMatchObject({ decision: 'deny', action: 'delete_account', target: 'mcp://bank/delete_account' })
    expect(d.reason).toBe('the tool "delete_account" is not in the allow-list of policy agent-tools@3')
  })

  it('denies arguments outside the JSON Schema, saying which', () => {
    expect(policy.decide('bank', 'transfer', { amount: 101, to: 'DE89' })).toMatchObject({ decision: 'deny', reason: expect.stringMatching(/arguments\/amount must be <= 100/) })
    expect(policy.decide('bank', 'transfer', { amount: 1, to: 'de89' }).decision).toBe('deny')
    expect(policy.decide('bank', 'transfer', { amount: 1 }).reason).toMatch(/must have required property 'to'/)
    expect(policy.decide('bank', 'transfer', 'not an object').decision).toBe('deny')
  })

  it('denies a call whose target needs an argument it lacks', () => {
    const p = new ToolPolicy({ id: 'p', version: '1', tools: { read: { target: 'file:{path}' } } })
    expect(p.decide('fs', 'read', { path: { nested: true } })).toMatchObject({ decision: 'deny', reason: expect.stringMatching(/needs the argument "path"/) })
    expect(p.decide('fs', 'read', { path: '/etc/hosts' })).toMatchObject({ decision: 'allow', target: 'file:/etc/hosts' })
  })

  it('does not take a tool from the prototype chain', () => {
    expect(policy.decide('bank', 'constructor', {}).decision).toBe('deny')
    expect(policy.decide('bank', '__proto__', {}).decision).toBe('deny')
  })

  it('refuses a policy with an unknown field or an unknown schema keyword', () => {
    expect(() => new ToolPolicy({ ...POLICY, tool: {} })).toThrow(/must NOT have additional properties/)
    expect(() => new ToolPolicy({ id: 'p', version: '1', tools: { t: { arguments: { type: 'object', maximun: 3 } } } })).toThrow(/arguments schema of tool "t" is not valid: strict mode: unknown keyword: "maximun"/)
    expect(() => new ToolPolicy({ id: '', version: '1', tools: {} })).toThrow(TypeError)
  })
})
