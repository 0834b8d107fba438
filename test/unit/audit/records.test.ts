import { describe, expect, it } from 'vitest'
import { parseStatement, toHex, type CredentialLineage } from '../../../src/core/index.ts'
import { csvLine, toRecord } from '../../../src/audit/records.ts'
import { decodeStatement } from '../../../src/verify/index.ts'
import { ACTOR, statement } from '../../helpers/log-fixture.ts'

const lineage: CredentialLineage = { org: 'fixture', issuer: 'issuer.fixture.example', issuerKey: 'issuer.fixture.example+00000000+AA', links: [] }
const leaf = toHex(new Uint8Array(32).fill(0xab))

describe('audit records', () => {
  it('records every field of a statement, optional ones included, in a fixed order', async () => {
    const s = parseStatement(
      await statement(7, Date.UTC(2027, 0, 2, 3, 4, 5, 6), {
        policy: { id: 'payments-limit', version: '7', decision: 'allow', ref: new Uint8Array([1, 2, 3]) },
        delegation: [
          { principal: 'user:alice@fixture.example', scope: 'payments:transfer', grant: new Uint8Array([0xff, 0x00]) },
          { principal: 'svc:planner', scope: 'payments' },
        ],
        approval: { by: 'user:bob@fixture.example', ref: 'TICKET-42' },
        instruction: new Uint8Array(32).fill(0x5a),
      }),
    )
    const r = toRecord(7, leaf, decodeStatement(s), lineage)
    expect(JSON.stringify(r)).toBe(
      JSON.stringify({
        index: 7,
        leafHash: leaf,
        time: Date.UTC(2027, 0, 2, 3, 4, 5, 6),
        timeIso: '2027-01-02T03:04:05.006Z',
        actor: ACTOR,
        action: 'payments.transfer',
        target: `acct:DE${'7'.padStart(20, '0')}`,
        tool: 'mcp://tools.fixture.example/payments@1.0.0',
        params: toHex(s.statement.params),
        policy: { id: 'payments-limit', version: '7', decision: 'allow', ref: '010203' },
        delegation: [
          { principal: 'user:alice@fixture.example', scope: 'payments:transfer', grant: 'ff00' },
          { principal: 'svc:planner', scope: 'payments' },
        ],
        issuer: 'issuer.fixture.example',
        org: 'fixture',
        lineage: [],
        approval: { by: 'user:bob@fixture.example', ref: 'TICKET-42' },
        instruction: '5a'.repeat(32),
      }),
    )
    expect(csvLine(r)).toBe(
      `7,${leaf},2027-01-02T03:04:05.006Z,${ACTOR},payments.transfer,acct:DE${'7'.padStart(20, '0')},mcp://tools.fixture.example/payments@1.0.0,` +
        `payments-limit,7,allow,user:alice@fixture.example (payments:transfer) > svc:planner (payments),user:bob@fixture.example (TICKET-42),issuer.fixture.example,fixture,${'5a'.repeat(32)}\n`,
    )
  })

  it('leaves out what a statement does not have, and quotes what a spreadsheet would misread', async () => {
    const s = parseStatement(await statement(8, 1_800_000_000_000, { target: '=cmd,"x"', tool: '-tool' }))
    const r = toRecord(8, leaf, decodeStatement(s), lineage)
    expect(r.approval).toBeUndefined()
    expect(r.delegation).toEqual([])
    expect(r.policy).toEqual({ id: 'payments-limit', version: '7', decision: 'allow' })
    expect(Object.keys(JSON.parse(JSON.stringify(r)) as object)).not.toContain('approval')
    expect(csvLine(r)).toContain(`,"'=cmd,""x""",'-tool,`)
    expect(csvLine(r).endsWith(',,,issuer.fixture.example,fixture,\n')).toBe(true)
    expect(Object.keys(JSON.parse(JSON.stringify(r)) as object)).not.toContain('instruction')
  })
})
