import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readAuditReport, writeAuditReport } from '../../../src/audit/report.ts'
import { fileStem, toRecord } from '../../../src/audit/records.ts'
import type { AuditState } from '../../../src/audit/state.ts'
import { removeDir, tempDir } from '../../helpers/processes.ts'

const dir = tempDir('actlog-report-')
afterAll(() => removeDir(dir))

const HOSTILE = 'spiffe://evil.example/<script>alert(1)</script>'
const PLAIN = 'spiffe://acme.example/agent/payments'

function record(index: number, actor: string, time: number): string {
  const s = { actor, action: 'payments.transfer', target: `acct:<b>${index}</b>`, tool: 't', params: '00', policy: { id: 'p', version: '1', decision: 'allow' }, delegation: [], time, nonce: '00', actorKey: '00' }
  return JSON.stringify(toRecord(index, 'ab', s, { org: 'acme & co', issuer: 'issuer.acme.example', issuerKey: 'k', links: [] })) + '\n'
}

/** Writes an audit state with records for two identities (one with markup in its name) and a problem file. */
function writeState(stateDir: string, withTail: boolean): void {
  mkdirSync(join(stateDir, 'records'), { recursive: true })
  const files: Record<string, number> = {}
  const counts: Record<string, number> = {}
  for (const [actor, n] of [[PLAIN, 5], [HOSTILE, 2]] as const) {
    let text = ''
    for (let i = 0; i < n; i++) text += record(i, actor, 1_700_000_000_000 + i * 60_000)
    const name = `${fileStem(actor)}.jsonl`
    files[name] = Buffer.byteLength(text)
    counts[actor] = n
    // A record after the counted length is from an interrupted run: the report must not count it.
    writeFileSync(join(stateDir, 'records', name), withTail ? text + record(99, actor, 1_800_000_000_000) : text)
  }
  const state: AuditState = { version: 1, log: 'http://log', origin: 'log.example/<i>x</i>', trusted: { treeSize: 10, rootHash: 'cm9vdA==', note: 'n' }, processed: { treeSize: 10, edge: [] }, files, counts, otherIssuers: 3, filter: {} }
  writeFileSync(join(stateDir, 'state.json'), JSON.stringify(state))
  writeFileSync(join(stateDir, 'problem-2026.json'), JSON.stringify({ kind: 'split-view', message: 'two <histories>', evidence: { index: 7 } }))
}

describe('the audit report', () => {
  it("counts each identity's records up to the length the state saved, per identity and per organisation", async () => {
    const s = join(dir, 'a')
    writeState(s, true)
    const r = await readAuditReport(s)
    expect(r.identities.map((i) => [i.identity, i.count])).toEqual([[PLAIN, 5], [HOSTILE, 2]])
    expect(r.orgs).toEqual([{ org: 'acme & co', identities: 2, count: 7 }])
    expect(r.identities[0]!.timeline.reduce((a, b) => a + b, 0)).toBe(5)
    expect(r.identities[0]!.recent.map((x) => x.index)).toEqual([4, 3, 2, 1, 0])
    expect(r.problems).toEqual([{ file: 'problem-2026.json', kind: 'split-view', message: 'two <histories>', index: 7 }])
  })

  it('writes a page in which logged text stays text', async () => {
    const s = join(dir, 'b')
    writeState(s, false)
    const file = join(dir, 'b.html')
    expect(await writeAuditReport(s, file, 1_700_000_000_000)).toEqual({ identities: 2, actions: 7 })
    const html = readFileSync(file, 'utf8')
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<b>')
    expect(html).not.toContain('<i>x')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('two &lt;histories&gt;')
    expect(html).toContain('acme &amp; co')
    expect(html).toContain("default-src 'none'")
  })

  it('refuses a directory with no audit state, saying what to run', async () => {
    await expect(readAuditReport(join(dir, 'none'))).rejects.toThrow(/run actlog audit/)
  })
})
