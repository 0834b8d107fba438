/**
 * A log and two witnesses as three real processes: witnessed proofs that
 * verify against a 2-of-2 policy, a witness killed with -9 (the log keeps
 * accepting, /checkpoint stops at the quorum), its restart (it catches up),
 * and the restore guard (a log started on an older copy of its data refuses
 * to sign).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeNote, encodeTlogProof, encodeVerifierKey, parseCheckpoint, parseNote, parseTlogProof, publicKeyFromSeed, sha256, toHex, utf8 } from '../../src/core/index.ts'
import { parsePolicy, parseTrustedIssuers, verifyActionProof, verifyCheckpoint } from '../../src/verify/index.ts'
import { makeNetwork, copyLogData, startLogProc, startWitnessProc, type Network } from '../helpers/local-network.ts'
import { ORIGIN, statement } from '../helpers/log-fixture.ts'
import { removeDir, runActlog, tempDir, writeJson, type Proc } from '../helpers/processes.ts'

let net: Network
let dir: string
let log: Proc | undefined
const witnesses: (Proc | undefined)[] = [undefined, undefined]

async function add(e: Uint8Array, query = ''): Promise<Response> {
  return fetch(`${log!.url}/add${query}`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
}

async function publishedSize(): Promise<number> {
  const res = await fetch(`${log!.url}/checkpoint`)
  if (res.status !== 200) return -1
  return parseCheckpoint(parseNote(await res.text()).text).treeSize
}

async function until(f: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await f()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('log with two witness processes', () => {
  beforeAll(async () => {
    dir = tempDir()
    net = await makeNetwork(dir, { witnessWaitSeconds: 2 })
    for (const i of [0, 1]) witnesses[i] = await startWitnessProc(net, i)
    log = await startLogProc(net)
  })

  afterAll(async () => {
    for (const p of [log, ...witnesses]) await p?.kill9()
    removeDir(dir)
  })

  it('answers ?wait=witnessed with a proof that verifies against the 2-of-2 policy, also with the CLI', async () => {
    const e = await statement(1, Date.now())
    const started = performance.now()
    const res = await add(e, '?wait=witnessed')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { index: number; proof: string; checkpoint: string }
    console.log(`e2e: acknowledgement to witnessed proof in ${(performance.now() - started).toFixed(0)} ms (one statement, idle log)`)
    const policy = parsePolicy(await (await import('node:fs/promises')).readFile(net.policy))
    const issuers = parseTrustedIssuers(await (await import('node:fs/promises')).readFile(net.issuers))
    const v = await verifyActionProof(body.proof, { policy, issuers })
    expect(v.ok, JSON.stringify(v)).toBe(true)
    if (v.ok) expect(v.witnesses.map((w) => w.name).sort()).toEqual(['W1', 'W2'])
    const file = join(dir, 'one.tlog-proof')
    writeFileSync(file, body.proof)
    const cli = await runActlog(['verify', file, '--policy', net.policy, '--issuers', net.issuers])
    expect(cli.code, cli.stderr + cli.stdout).toBe(0)
    expect(cli.stdout).toMatch(/VALID/)
    expect(cli.stdout).toMatch(/witnessed +by W1 and W2/)
    // GET /checkpoint serves a checkpoint that meets the quorum.
    const cp = await (await fetch(`${log!.url}/checkpoint`)).text()
    expect((await verifyCheckpoint(cp, { policy })).ok).toBe(true)
  })

  it('refuses every tampered variant of a real witnessed proof with the reason code of the first check it fails', async () => {
    const res = await add(await statement(7, Date.now()), '?wait=witnessed')
    const text = ((await res.json()) as { proof: string }).proof
    const fs = await import('node:fs/promises')
    const policyText = await fs.readFile(net.policy, 'utf8')
    const issuers = parseTrustedIssuers(await fs.readFile(net.issuers))
    const check = async (proof: string, policy = policyText) => verifyActionProof(proof, { policy: parsePolicy(policy), issuers })
    expect((await check(text)).ok).toBe(true)
    const p = parseTlogProof(text)
    const extra = p.extra!
    const withExtra = (mutate: (e: Uint8Array) => void): string => {
      const e = extra.slice()
      mutate(e)
      return encodeTlogProof({ ...p, extra: e })
    }
    // Offsets inside the COSE_Sign1: the protected header (with the credential) comes first, the signature last.
    const credAt = Buffer.from(extra).indexOf(Buffer.from('actlog-credential/v1')) + 40
    const payloadAt = Buffer.from(extra).indexOf(Buffer.from('payments.transfer'))
    const cases: [string, string, string][] = [
      ['statement payload', withExtra((e) => (e[payloadAt]! ^= 1)), 'BAD_INCLUSION'],
      ['statement signature', withExtra((e) => (e[e.length - 1]! ^= 1)), 'BAD_INCLUSION'],
      ['credential', withExtra((e) => (e[credAt]! ^= 1)), 'BAD_INCLUSION'],
      ['index', encodeTlogProof({ ...p, index: p.index + 1 }), 'BAD_INCLUSION'],
      ...p.proof.map((_, i): [string, string, string] => {
        const proof = p.proof.map((h) => h.slice())
        proof[i]![0]! ^= 1
        return [`proof hash ${i}`, encodeTlogProof({ ...p, proof }), 'BAD_INCLUSION']
      }),
    ]
    const note = parseNote(p.checkpoint)
    const body = note.text.replace(/\n(\d+)\n/, (_, n: string) => `\n${Number(n) + 1}\n`)
    cases.push(['checkpoint body', encodeTlogProof({ ...p, checkpoint: encodeNote({ ...note, text: body }) }), 'BAD_LOG_SIGNATURE'])
    note.signatures.forEach((sig, i) => {
      const signatures = note.signatures.map((x) => ({ ...x, signature: x.signature.slice() }))
      signatures[i]!.signature[signatures[i]!.signature.length - 1]! ^= 1
      const what = i === 0 ? 'log signature' : `cosignature ${i}`
      cases.push([what, encodeTlogProof({ ...p, checkpoint: encodeNote({ ...note, signatures }) }), i === 0 ? 'BAD_LOG_SIGNATURE' : 'BAD_COSIGNATURE'])
    })
    expect(note.signatures.length).toBe(3)
    for (const [what, proof, reason] of cases) {
      const v = await check(proof)
      expect(v.ok ? 'ok' : v.reason, what).toBe(reason)
    }
    // A policy naming only a witness unknown to this log, and one whose quorum the two cosignatures do not meet.
    const w3 = `witness W3 ${encodeVerifierKey('w3.e2e.example', 4, publicKeyFromSeed(new Uint8Array(32).fill(3)))}`
    const logLine = policyText.split('\n').find((l) => l.startsWith('log '))!
    expect(await check(text, `${logLine}\n${w3}\nquorum W3\n`)).toMatchObject({ ok: false, reason: 'QUORUM_NOT_MET' })
    const threeOfThree = policyText.replace('group both all W1 W2', `${w3}\ngroup both all W1 W2 W3`)
    expect(await check(text, threeOfThree)).toMatchObject({ ok: false, reason: 'QUORUM_NOT_MET' })
    expect(await check(text, threeOfThree.replace('group both all W1 W2 W3', 'group both 2 W1 W2 W3'))).toMatchObject({ ok: true })
  })

  it('keeps accepting with a witness killed, without publishing past the quorum, and catches up when it returns', async () => {
    // Timing of the ack -> witnessed path under a little load, for the closing note.
    const times: number[] = []
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const t = performance.now()
        const res = await add(await statement(100 + i, Date.now()), '?wait=witnessed')
        expect(res.status).toBe(200)
        times.push(performance.now() - t)
      }),
    )
    times.sort((a, b) => a - b)
    console.log(`e2e: ?wait=witnessed under 50 concurrent submissions: p50 ${times[25]!.toFixed(0)} ms, max ${times[49]!.toFixed(0)} ms`)

    await until(async () => (await publishedSize()) >= 51, 'the checkpoint to cover every entry')
    const before = await publishedSize()
    await witnesses[0]!.kill9()
    witnesses[0] = undefined
    const more = await Promise.all(Array.from({ length: 30 }, (_, i) => statement(1000 + i, Date.now())))
    for (const e of more) expect((await add(e)).status).toBe(200)
    // The log sequenced them...
    const health = (await (await fetch(`${log!.url}/healthz`)).json()) as { treeSize: number }
    expect(health.treeSize).toBe(before + 30)
    // ...but publishes nothing the quorum has not cosigned.
    await new Promise((r) => setTimeout(r, 1000))
    expect(await publishedSize()).toBe(before)
    const waited = await add(await statement(2000, Date.now()), '?wait=witnessed')
    expect(waited.status).toBe(503)
    expect(((await waited.json()) as { message: string }).message).toMatch(/witness quorum/)
    const proof = await fetch(`${log!.url}/proof/${before + 5}`)
    expect(proof.status).toBe(404)

    witnesses[0] = await startWitnessProc(net, 0)
    await until(async () => (await publishedSize()) >= before + 31, 'the returning witness to catch up', 30_000)
    const p = parseTlogProof(await (await fetch(`${log!.url}/proof/${before + 5}`)).text())
    expect(p.index).toBe(before + 5)
  })

  it('refuses to sign when started on an older copy of its data directory', async () => {
    // Take a copy now (log stopped for a consistent copy), then let the log and witnesses move on.
    await log!.stop()
    copyLogData(net, 'log-data-old')
    log = await startLogProc(net)
    for (let i = 0; i < 10; i++) expect((await add(await statement(3000 + i, Date.now()), '?wait=witnessed')).status).toBe(200)
    await log.stop()
    log = undefined
    const oldConfig = join(dir, 'log-old.json')
    const cfg = JSON.parse(await (await import('node:fs/promises')).readFile(net.logConfig, 'utf8')) as Record<string, unknown>
    writeJson(oldConfig, { ...cfg, dataDir: 'log-data-old' })
    const witnessView = async (i: number): Promise<{ checkpoint: string; metrics: string }> => ({
      checkpoint: await (await fetch(`http://127.0.0.1:${net.ports[i]}/${toHex(sha256(utf8(ORIGIN)))}/checkpoint`)).text(),
      metrics: await (await fetch(`http://127.0.0.1:${net.ports[i]}/metrics`)).text(),
    })
    const before = [await witnessView(0), await witnessView(1)]
    const err = await startLogProc(net, oldConfig).then(
      async (p) => {
        await p.kill9()
        return undefined
      },
      (e: Error) => e,
    )
    expect(err?.message).toMatch(/exited with 1 before serving/)
    expect(err?.message).toMatch(/refuses to sign/)
    expect(err?.message).toMatch(/older than the history the witnesses have seen/)
    // Each witness saw the old log's checkpoint (the guard's probe), refused
    // it as a rollback and kept it as evidence; it cosigned nothing: its
    // latest cosigned checkpoint is the very one it held before.
    for (const i of [0, 1]) {
      const after = await witnessView(i)
      expect(after.checkpoint).toBe(before[i]!.checkpoint)
      const count = (m: string, line: string): number => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(m)?.[1] ?? 0)
      expect(count(after.metrics, `actlog_witness_evidence_total{origin="${ORIGIN}",reason="rollback"}`)).toBe(1)
      expect(count(after.metrics, `actlog_witness_cosignatures_total{origin="${ORIGIN}"}`)).toBe(count(before[i]!.metrics, `actlog_witness_cosignatures_total{origin="${ORIGIN}"}`))
      expect(count(after.metrics, 'actlog_witness_http_responses_total{status="422"}')).toBe(0)
      expect(count(after.metrics, 'actlog_witness_http_responses_total{status="409"}')).toBeGreaterThanOrEqual(1)
    }
    // The witnesses saw no rollback: the current log starts fine and they cosign its next checkpoint.
    log = await startLogProc(net)
    expect((await add(await statement(4000, Date.now()), '?wait=witnessed')).status).toBe(200)
  })
})
