/**
 * Signing-key lineage end to end, with real processes: an organisation with
 * a namespace (issuer -> spiffe://fixture.example/agents/ -> agents), the
 * attack of issue 23 (an agent key mints a credential for another identity
 * and signs as it) refused with the tree unchanged, a revocation logged and
 * enforced across kill -9, the auditor's view of it, and a log rigged to
 * sequence a revoked key, which makes the auditor stop with evidence.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildStatement,
  encodeSignerKey,
  encodeVerifierKey,
  issueCredential,
  openNote,
  ed25519Verifier,
  parseCheckpoint,
  parseTlogProof,
  publicKeyFromSeed,
  sha256,
  utf8,
} from '../../src/core/index.ts'
import { readCredentialFile, readKeyFile } from '../../src/cli/files.ts'
import { issueCredentialCommand, keygen } from '../../src/cli/keys.ts'
import { ISSUER_NAME, ISSUER_SEED, LOG_SEED, ORIGIN, PREFIX } from '../helpers/log-fixture.ts'
import { removeDir, runActlog, startActlog, tempDir, writeJson, type Proc } from '../helpers/processes.ts'
import { RIG_POLICY, RiggedLog, buildTree } from '../helpers/rigged-log.ts'

const NS = `${PREFIX}agents/`
const AGENT = `${NS}payments`
const DEPLOYER = `${NS}deployer`
let dir: string
let log: Proc | undefined
const f = (n: string): string => join(dir, n)

async function treeSize(): Promise<number> {
  const text = await (await fetch(`${log!.url}/checkpoint`)).text()
  return parseCheckpoint((await openNote(text, [ed25519Verifier(ORIGIN, publicKeyFromSeed(LOG_SEED))])).note.text).treeSize
}

async function act(key: string, cred: string, out: string, target = 'acct:DE89370400440532013000'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runActlog([
    'submit', '--log', log!.url, '--key', f(key), '--credentials', f(cred),
    '--action', 'payments.transfer', '--target', target, '--tool', 'mcp://tools.fixture.example/payments@1.0.0',
    '--params', '11'.repeat(32), '--policy', 'payments-limit@7', '--decision', 'allow',
    '--instruction-file', f('prompt.txt'), '--out', f(out),
  ])
}

const startLog = async (): Promise<void> => {
  log = await startActlog(['serve', '--config', f('log.json')])
}

beforeAll(async () => {
  dir = tempDir()
  writeFileSync(f('log.key'), encodeSignerKey(ORIGIN, 1, LOG_SEED) + '\n', { mode: 0o600 })
  writeFileSync(f('issuer.key'), encodeSignerKey(ISSUER_NAME, 1, ISSUER_SEED) + '\n', { mode: 0o600 })
  writeFileSync(f('issuers.txt'), `issuer fixture ${encodeVerifierKey(ISSUER_NAME, 1, publicKeyFromSeed(ISSUER_SEED))} ${PREFIX}\n`)
  writeFileSync(f('policy.txt'), `log ${encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(LOG_SEED))}\nquorum none\n`)
  writeFileSync(f('prompt.txt'), 'pay invoice INV-1001 to ACME GmbH\n')
  writeJson(f('log.json'), { origin: ORIGIN, dataDir: 'data', keyFile: 'log.key', listen: '127.0.0.1:0', issuersFile: 'issuers.txt' })
  // Keys and credentials in-process (test/unit/cli covers the commands); the log, submit, revoke, audit and verify run as processes.
  for (const [name, file] of [[NS, 'ns.key'], [AGENT, 'agent.key'], [DEPLOYER, 'deployer.key']] as const) keygen({ kind: 'actor', name, out: f(file) })
  await issueCredentialCommand({ issuerKey: f('issuer.key'), subject: NS, subjectKey: f('ns.key'), out: f('ns.cred') })
  await issueCredentialCommand({ issuerKey: f('ns.key'), chain: f('ns.cred'), subject: AGENT, subjectKey: f('agent.key'), out: f('agent.cred') })
  await issueCredentialCommand({ issuerKey: f('ns.key'), chain: f('ns.cred'), subject: DEPLOYER, subjectKey: f('deployer.key'), out: f('deployer.cred') })
  await startLog()
}, 60_000)

afterAll(async () => {
  await log?.kill9()
  removeDir(dir)
})

describe('signing-key lineage, end to end', () => {
  it('logs an agent credentialed through a namespace, with its instruction digest and lineage roles', async () => {
    const r = await act('agent.key', 'agent.cred', 'first.tlog-proof')
    expect(r.code, r.stderr).toBe(0)
    const v = await runActlog(['verify', f('first.tlog-proof'), '--policy', f('policy.txt'), '--issuers', f('issuers.txt'), '--json'])
    expect(v.code, v.stdout).toBe(0)
    const verdict = JSON.parse(v.stdout)
    expect(verdict.lineage.links.map((l: { role: string; subject: string }) => `${l.role} ${l.subject}`)).toEqual([`identity ${AGENT}`, `namespace ${NS}`])
    expect(verdict.statement.instruction).toBe(Buffer.from(sha256(readFileSync(f('prompt.txt')))).toString('hex'))
  })

  it('refuses an agent key that issued itself another identity, and the tree does not grow', async () => {
    // The attacker does not use our CLI (which refuses): core signs what it is told.
    const minted = sha256(utf8('minted deployer key'))
    writeFileSync(f('minted.key'), encodeSignerKey(DEPLOYER, 1, minted) + '\n', { mode: 0o600 })
    const agent = readKeyFile(f('agent.key'))
    const now = Date.now()
    const forged = await issueCredential({ issuer: AGENT, subject: DEPLOYER, subjectKey: publicKeyFromSeed(minted), notBefore: now - 60_000, notAfter: now + 86_400_000 }, agent.seed)
    const chain = [forged, ...readCredentialFile(f('agent.cred'))]
    const entry = await buildStatement(
      { actor: DEPLOYER, action: 'deploy.release', target: 'k8s://prod/payments', params: new Uint8Array(32), tool: 'argo-cd@2.11.3', policy: { id: 'deploy', version: '1', decision: 'allow' }, time: now, nonce: new Uint8Array(16).fill(9) },
      { seed: minted, credentials: chain },
    )
    const before = await treeSize()
    const res = await fetch(`${log!.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: entry as Uint8Array<ArrayBuffer> })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'UNTRUSTED', message: expect.stringMatching(/identity credential/) })
    expect(await treeSize()).toBe(before)
    // And the CLI refuses to mint it in the first place, before signing.
    const cli = await runActlog(['issue-credential', '--issuer-key', f('agent.key'), '--chain', f('agent.cred'), '--subject', DEPLOYER, '--subject-key', f('minted.key'), '--out', f('minted.cred')])
    expect(cli.code).not.toBe(0)
    expect(cli.stderr).toMatch(/identity credential/)
    expect(existsSync(f('minted.cred'))).toBe(false)
  })

  let revocationIndex = -1

  it('refuses the revoked agent with 403 REVOKED, also after kill -9 and without the state record', async () => {
    const rv = await runActlog([
      'revoke', '--log', log!.url, '--subject', AGENT, '--key', f('agent.key'), '--reason', 'key exposed in a build log',
      '--since', new Date(Date.now() - 3_600_000).toISOString(), '--signer-key', f('ns.key'), '--chain', f('ns.cred'), '--out', f('revocation.tlog-proof'),
    ])
    expect(rv.code, rv.stderr).toBe(0)
    revocationIndex = parseTlogProof(readFileSync(f('revocation.tlog-proof'))).index
    // Killed right after the revocation was acknowledged.
    await log!.kill9()
    await startLog()
    const before = await treeSize()
    const refused = await act('agent.key', 'agent.cred', 'refused.tlog-proof', 'acct:after-revocation')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(new RegExp(`REVOKED \\(HTTP 403\\).*revoked by log entry ${revocationIndex}`))
    expect(await treeSize()).toBe(before)
    // The record is rebuilt from the log's entries when it is missing.
    await log!.kill9()
    rmSync(join(dir, 'data', 'revocations.json'))
    await startLog()
    expect((await act('agent.key', 'agent.cred', 'refused2.tlog-proof', 'acct:after-restart')).stderr).toMatch(/REVOKED/)
    // The deployer, under the same namespace, is not revoked.
    expect((await act('deployer.key', 'deployer.cred', 'deployer.tlog-proof')).code).toBe(0)
  }, 60_000)

  it('shows the revocation to the auditor, which finds nothing wrong, and to verify --revocations', async () => {
    const audit = await runActlog(['audit', '--log', log!.url, '--policy', f('policy.txt'), '--issuers', f('issuers.txt'), '--state', f('audit')])
    expect(audit.code, audit.stderr).toBe(0)
    expect(audit.stdout).toMatch(new RegExp(`REVOKED  ${AGENT.replace(/[/.]/g, '\\$&')} key .* by entry ${revocationIndex} \\(namespace: key exposed in a build log\\).*1 earlier action\\(s\\) suspect`))
    const v = await runActlog(['verify', f('first.tlog-proof'), '--policy', f('policy.txt'), '--issuers', f('issuers.txt'), '--revocations', f('audit')])
    expect(v.code, v.stdout).toBe(0)
    expect(v.stdout).toMatch(/SUSPECT/)
    expect(v.stdout).toMatch(/complete to its checkpoint of \d+ entries/)
  }, 60_000)

  it('stops the auditor with evidence when a rigged log sequences a revoked key', async () => {
    const rig = new RiggedLog()
    try {
      const proofs = ['first', 'revocation'].map((n) => parseTlogProof(readFileSync(f(`${n}.tlog-proof`))).extra!)
      // The statement the real log refused, sequenced anyway by the rigged one.
      const agent = readKeyFile(f('agent.key'))
      const late = await buildStatement(
        { actor: AGENT, action: 'payments.transfer', target: 'acct:rigged', params: new Uint8Array(32), tool: 'mcp://tools.fixture.example/payments@1.0.0', policy: { id: 'p', version: '1', decision: 'allow' }, time: Date.now(), nonce: new Uint8Array(16).fill(3) },
        { seed: agent.seed, credentials: readCredentialFile(f('agent.cred')) },
      )
      await rig.start(await buildTree([...proofs, late]))
      writeFileSync(f('rig-policy.txt'), RIG_POLICY)
      const r = await runActlog(['audit', '--log', rig.url, '--policy', f('rig-policy.txt'), '--issuers', f('issuers.txt'), '--state', f('rig-audit')])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/AUDIT STOPPED: revoked-entry: entry 2 was sequenced after entry 1 revoked/)
      const evidence = JSON.parse(readFileSync(/evidence: (\S+)/.exec(r.stderr)![1]!, 'utf8'))
      expect(evidence.evidence).toMatchObject({ index: 2, revocationIndex: 1 })
    } finally {
      await rig.stop()
    }
  }, 60_000)
})
