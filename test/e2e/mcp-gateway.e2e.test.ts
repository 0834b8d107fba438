/**
 * `actlog mcp-gateway` as an agent's MCP client starts it, between a real
 * MCP Client (the SDK's) and a real MCP server (test/helpers/mcp-server.mjs,
 * the SDK's McpServer, recording the exact bytes it receives), over stdio
 * and over Streamable HTTP, with a real log and two real witnesses.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCredentials, encodeKey, generateKey, issueCredentialChain } from '../../src/client/index.ts'
import { SIG_TYPE_ED25519, encodeSignerKey, parseSignerKey, sha256, toHex } from '../../src/core/index.ts'
import { DENIED, NOT_LOGGED, PROOF_META, type ProofRef } from '../../src/mcp/index.ts'
import { verifyActionProof, type ActionVerdict } from '../../src/verify/index.ts'
import { makeNetwork, startLogProc, startWitnessProc, type Network } from '../helpers/local-network.ts'
import { ISSUER_NAME, ISSUER_SEED, PREFIX } from '../helpers/log-fixture.ts'
import { ACTLOG, removeDir, tempDir, writeJson, type Proc } from '../helpers/processes.ts'

const SERVER = fileURLToPath(new URL('../helpers/mcp-server.mjs', import.meta.url))
const AGENT = `${PREFIX}agent/mcp-gateway`

let dir: string
let net: Network
let log: Proc | undefined
const procs: Proc[] = []
let httpServer: ChildProcess | undefined
let httpUrl: string
let directTools: unknown

interface Received {
  bytes: Buffer
  treeSize: number | null
}

/** Returns the messages the server recorded in `file`. */
function received(file: string): Received[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const r = JSON.parse(l) as { b64: string; treeSize: number | null }
      return { bytes: Buffer.from(r.b64, 'base64'), treeSize: r.treeSize }
    })
}

const calls = (file: string): { msg: { method: string; params: { name: string; arguments: unknown } }; r: Received }[] =>
  received(file)
    .map((r) => ({ r, msg: JSON.parse(r.bytes.toString('utf8')) as { method: string; params: { name: string; arguments: unknown } } }))
    .filter((x) => x.msg.method === 'tools/call')

/** Starts a real MCP Client talking to `actlog mcp-gateway` with these gateway arguments. */
async function gatewayClient(args: string[], record: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [ACTLOG, 'mcp-gateway', '--config', join(dir, 'gateway.json'), ...args],
    env: { ...(process.env as Record<string, string>), MCP_RECORD: record, ACTLOG_LOG_URL: log!.url },
    stderr: 'pipe',
  })
  const client = new Client({ name: 'test-agent', version: '0.0.1' })
  await client.connect(transport)
  return client
}

/** Fetches and verifies the witnessed proof a result's `_meta` points to. */
async function verifyRef(ref: ProofRef): Promise<ActionVerdict> {
  const res = await fetch(ref.url)
  expect(res.status).toBe(200)
  return verifyActionProof(await res.text(), { policy: readFileSync(net.policy, 'utf8'), issuers: readFileSync(net.issuers, 'utf8') })
}

beforeAll(async () => {
  dir = tempDir('actlog-mcp-')
  net = await makeNetwork(dir)
  for (const i of [0, 1]) procs.push(await startWitnessProc(net, i))
  log = await startLogProc(net)
  const issuer = parseSignerKey(encodeSignerKey(ISSUER_NAME, SIG_TYPE_ED25519, ISSUER_SEED))
  const agent = generateKey(AGENT)
  writeFileSync(join(dir, 'gateway.key'), encodeKey(agent), { mode: 0o600 })
  writeFileSync(join(dir, 'gateway.cred'), encodeCredentials(await issueCredentialChain(issuer, { subject: AGENT, subjectKey: agent, namespace: PREFIX })))
  writeJson(join(dir, 'gateway.json'), {
    log: log.url,
    keyFile: 'gateway.key',
    credentialsFile: 'gateway.cred',
    policy: {
      id: 'agent-tools',
      version: '3',
      delegation: [{ principal: 'user:alice@acme.example', scope: 'payments' }],
      tools: {
        echo: { action: 'test.echo', target: 'echo:{text}' },
        transfer: {
          action: 'payments.transfer',
          target: 'acct:{to}',
          arguments: { type: 'object', properties: { amount: { type: 'number', maximum: 100 }, to: { type: 'string' } }, required: ['amount', 'to'] },
        },
      },
    },
  })
  // What the server lists when a client talks to it directly.
  const direct = new Client({ name: 'direct', version: '0.0.1' })
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER] }))
  directTools = await direct.listTools()
  await direct.close()
  httpServer = spawn(process.execPath, [SERVER, '--http'], { env: { ...process.env, MCP_RECORD: join(dir, 'http.jsonl'), ACTLOG_LOG_URL: log.url }, stdio: ['ignore', 'pipe', 'inherit'] })
  httpUrl = await new Promise<string>((resolve, reject) => {
    let out = ''
    httpServer!.stdout!.on('data', (d) => {
      out += d
      const m = /serving (\S+)/.exec(out)
      if (m !== null) resolve(m[1]!)
    })
    httpServer!.once('exit', (code) => reject(new Error(`the MCP server exited with ${code}: ${out}`)))
  })
  // Three actlog processes and two MCP servers: minutes on a busy 2-core machine.
}, 240_000)

afterAll(async () => {
  httpServer?.kill('SIGKILL')
  for (const p of [log, ...procs]) await p?.kill9()
  removeDir(dir)
})

const transports = [
  { name: 'stdio', args: (): string[] => ['--', process.execPath, SERVER], record: (): string => join(dir, 'stdio.jsonl') },
  { name: 'Streamable HTTP', args: (): string[] => ['--upstream', httpUrl], record: (): string => join(dir, 'http.jsonl') },
]

describe.each(transports)('the gateway over $name', (t) => {
  let client: Client
  beforeAll(async () => {
    client = await gatewayClient(t.args(), t.record())
  }, 120_000)
  afterAll(async () => {
    await client.close()
  })

  it('passes tools/list through unchanged', async () => {
    expect(await client.listTools()).toEqual(directTools)
    expect(client.getServerVersion()).toMatchObject({ name: 'recording-server', version: '1.2.3' })
  })

  it('logs an allowed call before the server sees it, with the SHA-256 of the exact bytes it received, and returns a proof that verifies offline', async () => {
    const result = await client.callTool({ name: 'echo', arguments: { text: `hello over ${t.name}` } })
    expect(result.content).toEqual([{ type: 'text', text: `hello over ${t.name}` }])
    const ref = (result._meta as Record<string, ProofRef>)[PROOF_META]!
    expect(ref).toMatchObject({ origin: expect.any(String), index: expect.any(Number), leafHash: expect.stringMatching(/^[0-9a-f]{64}$/) })
    const seen = calls(t.record()).filter((c) => c.msg.params.name === 'echo')
    expect(seen).toHaveLength(1)
    // When the call arrived, the log already held its statement.
    expect(seen[0]!.r.treeSize).toBeGreaterThan(ref.index)
    const verdict = await verifyRef(ref)
    expect(verdict.ok).toBe(true)
    if (!verdict.ok) return
    expect(verdict.index).toBe(ref.index)
    expect(verdict.checkpoint.origin).toBe(ref.origin)
    expect(verdict.statement).toMatchObject({
      actor: AGENT,
      action: 'test.echo',
      target: `echo:hello over ${t.name}`,
      tool: 'mcp://recording-server/echo@1.2.3',
      params: toHex(sha256(seen[0]!.r.bytes)),
      policy: { id: 'agent-tools', version: '3', decision: 'allow' },
      delegation: [{ principal: 'user:alice@acme.example', scope: 'payments' }],
    })
  })

  it('refuses a tool outside the policy with an MCP error, logs it as deny, and never forwards it', async () => {
    const err = await client.callTool({ name: 'wipe', arguments: {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(McpError)
    expect((err as McpError).code).toBe(DENIED)
    expect((err as McpError).message).toMatch(/"wipe" is not in the allow-list of policy agent-tools@3/)
    const verdict = await verifyRef((err as McpError & { data: Record<string, ProofRef> }).data[PROOF_META]!)
    expect(verdict.ok && verdict.statement).toMatchObject({ action: 'wipe', tool: 'mcp://recording-server/wipe@1.2.3', policy: { decision: 'deny' } })
    expect(calls(t.record()).filter((c) => c.msg.params.name === 'wipe')).toEqual([])
  })

  it('refuses a call whose arguments break the tool\'s JSON Schema', async () => {
    const err = (await client.callTool({ name: 'transfer', arguments: { amount: 5000, to: 'DE89' } }).catch((e: unknown) => e)) as McpError
    expect(err.code).toBe(DENIED)
    expect(err.message).toMatch(/arguments\/amount must be <= 100/)
    expect(calls(t.record()).filter((c) => c.msg.params.name === 'transfer')).toEqual([])
    const ok = await client.callTool({ name: 'transfer', arguments: { amount: 50, to: 'DE89' } })
    expect(ok.content).toEqual([{ type: 'text', text: 'sent 50 to DE89' }])
    const verdict = await verifyRef((ok._meta as Record<string, ProofRef>)[PROOF_META]!)
    expect(verdict.ok && verdict.statement).toMatchObject({ action: 'payments.transfer', target: 'acct:DE89' })
  })
})

describe('with the log stopped', () => {
  it('refuses calls over both transports and forwards none (fail closed)', { timeout: 180_000 }, async () => {
    const clients = await Promise.all(transports.map((t) => gatewayClient(t.args(), t.record())))
    await log!.kill9()
    log = undefined
    for (const [i, client] of clients.entries()) {
      const before = calls(transports[i]!.record()).length
      const err = (await client.callTool({ name: 'echo', arguments: { text: 'while the log is down' } }).catch((e: unknown) => e)) as McpError
      expect(err).toBeInstanceOf(McpError)
      expect(err.code).toBe(NOT_LOGGED)
      expect(err.message).toMatch(/could not be logged/)
      expect(calls(transports[i]!.record())).toHaveLength(before)
      // Other methods still pass through.
      expect(await client.listTools()).toEqual(directTools)
      await client.close()
    }
  })
})
