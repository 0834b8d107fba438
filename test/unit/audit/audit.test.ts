import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildStatement, fromHex, parsePolicy, parseTrustedIssuers, sha256, utf8 } from '../../../src/core/index.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'
import { audit, csvField, type AuditOptions } from '../../../src/audit/index.ts'
import { ISSUERS_FILE, ACTOR, AGENT_SEED, agentCredential, statement } from '../../helpers/log-fixture.ts'
import { RIG_POLICY, RiggedLog, buildTree } from '../../helpers/rigged-log.ts'

const policy = parsePolicy(RIG_POLICY)
const issuers = parseTrustedIssuers(ISSUERS_FILE)
let entries: Uint8Array[] = []
const dirs: string[] = []
const rig = new RiggedLog()

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'actlog-audit-'))
  dirs.push(d)
  return d
}

function opts(dir: string, more: Partial<AuditOptions> = {}): AuditOptions {
  return { log: rig.url, policy, issuers, stateDir: dir, ...more }
}

beforeAll(async () => {
  entries = await Promise.all(Array.from({ length: 700 }, (_, i) => statement(i, 1_800_000_000_000 + i)))
  await rig.start(await buildTree(entries.slice(0, 600)))
})

afterAll(async () => {
  await rig.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('auditor against a rigged log', () => {
  it('checks an honest log and records every action, complete up to its checkpoint', async () => {
    rig.tree = await buildTree(entries.slice(0, 600))
    const dir = stateDir()
    const r = await audit(opts(dir))
    expect(r.ok && r.complete).toBe(true)
    if (!r.ok) return
    expect(r.processed).toBe(600)
    expect(r.counts).toEqual({ [ACTOR]: 600 })
    const lines = readFileSync(join(dir, 'records', `${encodeURIComponent(ACTOR)}.jsonl`), 'utf8').trim().split('\n')
    expect(lines.map((l) => (JSON.parse(l) as { index: number }).index)).toEqual(Array.from({ length: 600 }, (_, i) => i))
    const csv = readFileSync(join(dir, 'records', `${encodeURIComponent(ACTOR)}.csv`), 'utf8').trim().split('\n')
    expect(csv).toHaveLength(601)
    expect(csv[0]).toMatch(/^index,leaf_hash,time,actor,action/)
    // It grows: a later pass checks consistency and only the new entries.
    rig.tree = await buildTree(entries)
    const r2 = await audit(opts(dir))
    expect(r2.ok && r2.processedThisRun).toBe(100)
    if (r2.ok) expect(r2.counts[ACTOR]).toBe(700)
  })

  it('stops on a fork: a checkpoint not consistent with the one it trusted', async () => {
    rig.tree = await buildTree(entries.slice(0, 300))
    const dir = stateDir()
    expect((await audit(opts(dir))).ok).toBe(true)
    const trusted = rig.tree.checkpoint
    // Same log key, same witness, a history that does not extend the first.
    const forked = [...entries.slice(0, 250), ...entries.slice(400, 500)]
    rig.tree = await buildTree(forked)
    const r = await audit(opts(dir))
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problem.kind).toBe('split-view')
    expect(r.problem.evidence.trusted).toBe(trusted)
    expect(r.problem.evidence.current).toBe(rig.tree.checkpoint)
    const report = JSON.parse(readFileSync(r.problem.reportFile, 'utf8')) as { kind: string; evidence: { trusted: string; current: string } }
    expect(report.kind).toBe('split-view')
    expect(report.evidence.trusted).toBe(trusted)
  })

  it('stops on a rollback: a smaller tree than before', async () => {
    rig.tree = await buildTree(entries.slice(0, 300))
    const dir = stateDir()
    expect((await audit(opts(dir))).ok).toBe(true)
    rig.tree = await buildTree(entries.slice(0, 299))
    const r = await audit(opts(dir))
    expect(!r.ok && r.problem.kind).toBe('rollback')
  })

  it('stops when a witness cosigned a history the log does not show', async () => {
    rig.tree = await buildTree(entries.slice(0, 300))
    rig.witnessCheckpoint = (await buildTree([...entries.slice(0, 100), ...entries.slice(500, 510)])).checkpoint
    const r = await audit(opts(stateDir(), { witnesses: [`${rig.url}/witness`] }))
    rig.witnessCheckpoint = undefined
    expect(!r.ok && r.problem.kind).toBe('split-view')
    if (!r.ok) expect(r.problem.message).toMatch(/witness/)
  })

  it('accepts a witness view that is a prefix of the log', async () => {
    rig.tree = await buildTree(entries.slice(0, 300))
    rig.witnessCheckpoint = (await buildTree(entries.slice(0, 120))).checkpoint
    const r = await audit(opts(stateDir(), { witnesses: [`${rig.url}/witness`] }))
    rig.witnessCheckpoint = undefined
    expect(r.ok).toBe(true)
  })

  it('stops on an entry that does not match its tile, naming the index', async () => {
    const tree = await buildTree(entries.slice(0, 300))
    const bundle = tree.tiles.get('entries/1')!
    const changed = bundle.slice()
    changed[changed.length - 3]! ^= 1
    tree.tiles.set('entries/1', changed)
    rig.tree = tree
    const r = await audit(opts(stateDir()))
    expect(!r.ok && r.problem.kind).toBe('entry-mismatch')
    if (!r.ok) expect(r.problem.evidence.index).toBe(299)
  })

  it('stops on a statement a log must refuse, naming the index', async () => {
    const bad = await buildStatement(
      {
        actor: ACTOR,
        action: 'payments.transfer',
        target: 'acct:x',
        params: sha256(utf8('x')),
        tool: 't',
        policy: { id: 'p', version: '1', decision: 'allow' },
        // Outside its credential's window [5, 10]: a log checks this and refuses.
        time: 1,
        nonce: new Uint8Array(16),
      },
      { seed: AGENT_SEED, credentials: [await agentCredential({ notBefore: 5, notAfter: 10 })] },
    )
    rig.tree = await buildTree([...entries.slice(0, 10), bad])
    const r = await audit(opts(stateDir()))
    expect(!r.ok && r.problem.kind).toBe('bad-statement')
    if (!r.ok) expect(r.problem.evidence.index).toBe(10)
  })

  it('resumes after stopping halfway, with the same records as one run', async () => {
    rig.tree = await buildTree(entries.slice(0, 600))
    const whole = stateDir()
    await audit(opts(whole))
    const parts = stateDir()
    const first = await audit(opts(parts, { maxEntries: 333 }))
    expect(first.ok && !first.complete && first.processed).toBe(333)
    const second = await audit(opts(parts))
    expect(second.ok && second.complete && second.processedThisRun).toBe(267)
    for (const f of readdirSync(join(whole, 'records'))) {
      expect(readFileSync(join(parts, 'records', f), 'utf8')).toBe(readFileSync(join(whole, 'records', f), 'utf8'))
    }
  })

  it('filters by actor, organisation and time, and refuses to resume with other filters', async () => {
    rig.tree = await buildTree(entries.slice(0, 600))
    const none = await audit(opts(stateDir(), { actor: 'svc:nobody' }))
    expect(none.ok && Object.keys(none.counts)).toEqual([])
    const org = await audit(opts(stateDir(), { org: 'fixture' }))
    expect(org.ok && org.counts[ACTOR]).toBe(600)
    const since = await audit(opts(stateDir(), { since: 1_800_000_000_000 + 500 }))
    expect(since.ok && since.counts[ACTOR]).toBe(100)
    const dir = stateDir()
    await audit(opts(dir, { actor: ACTOR, maxEntries: 10 }))
    await expect(audit(opts(dir))).rejects.toThrow(/same options/)
  })

  it('keeps formulas out of CSV cells', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`)
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('plain')).toBe('plain')
    expect(csvField('-1')).toBe("'-1")
  })
})

describe('auditor and the shared log-order sequences (revocations)', () => {
  const V = loadSharedStatementVectors()
  const sharedIssuers = parseTrustedIssuers(V.issuers_file)
  const sequences = V.sequences as { name: string; entries_hex: string[]; want: string[] }[]

  for (const seq of sequences) {
    it(`${seq.name}: ${seq.want.join(', ')}`, async () => {
      const entries = seq.entries_hex.map(fromHex)
      rig.tree = await buildTree(entries)
      const dir = stateDir()
      const r = await audit(opts(dir, { issuers: sharedIssuers }))
      const firstBad = seq.want.findIndex((w) => w !== 'ok')
      if (firstBad === -1) {
        expect(r.ok && r.complete, JSON.stringify(r)).toBe(true)
        if (!r.ok) return
        const revs = Object.values(r.revocations).flat()
        expect(revs.length).toBeGreaterThan(0)
        // verify --revocations reads this state: complete to the whole tree.
        const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))
        expect(st.processed.treeSize).toBe(entries.length)
        expect(st.revocations.map((x: { index: number }) => x.index)).toEqual(revs.map((x) => x.index))
        return
      }
      // A log that sequenced what it must refuse: the auditor stops with evidence.
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.problem.evidence.index).toBe(firstBad)
      if (seq.want[firstBad] === 'REVOKED') {
        expect(r.problem.kind).toBe('revoked-entry')
        expect(typeof r.problem.evidence.revocationIndex).toBe('number')
        expect(r.problem.evidence.revocationIndex as number).toBeLessThan(firstBad)
        expect(r.problem.message).toMatch(new RegExp(`entry ${firstBad} .*after entry ${r.problem.evidence.revocationIndex as number}`))
        expect(JSON.parse(readFileSync(r.problem.reportFile, 'utf8')).evidence.revocationIndex).toBe(r.problem.evidence.revocationIndex)
        // The entries before it were fine: the auditor of that prefix finds nothing wrong.
        rig.tree = await buildTree(entries.slice(0, firstBad))
        expect((await audit(opts(stateDir(), { issuers: sharedIssuers }))).ok).toBe(true)
      } else {
        expect(r.problem.kind).toBe('bad-statement')
      }
    })
  }

  it('marks the earlier entries at or after since as suspect, in records and report', async () => {
    const seq = sequences.find((s) => /since/.test(s.name))!
    const entries = seq.entries_hex.map(fromHex).slice(0, 2)
    rig.tree = await buildTree(entries)
    const dir = stateDir()
    const r = await audit(opts(dir, { issuers: sharedIssuers }))
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const [rev] = Object.values(r.revocations).flat()
    expect(rev).toMatchObject({ index: 1, authority: 'self', suspect: [0] })
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))
    expect(report.revocations[rev!.subject][0].suspect).toEqual([0])
    const rec = JSON.parse(readFileSync(join(dir, 'records', `${encodeURIComponent(rev!.subject)}.jsonl`), 'utf8').trim())
    expect(rec.lineage[0]).toMatchObject({ role: 'identity', subject: rev!.subject, key: rev!.key })
  })
})
