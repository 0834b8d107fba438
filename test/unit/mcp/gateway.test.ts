/**
 * The gateway in one process: the SDK's Client and McpServer on in-memory
 * transports, and an in-process log (memory store, real sequencer, real
 * Hono app) reached through the LogClient's fetch. The byte-exact digest
 * and the real transports are tested end to end in
 * test/e2e/mcp-gateway.e2e.test.ts.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { LogClient, generateKey, issueCredentialChain } from '../../../src/client/index.ts'
import { SIG_TYPE_ED25519, encodeSignerKey, parseSignerKey, parseStatement, parseTlogProof } from '../../../src/core/index.ts'
import { DENIED, McpGateway, NOT_LOGGED, PROOF_META, ToolPolicy, WARNING_META, type GatewayConfig, type ProofRef } from '../../../src/mcp/index.ts'
import { ISSUER_NAME, ISSUER_SEED, PREFIX, makeLog } from '../../helpers/log-fixture.ts'

const open: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of open.splice(0)) await close()
})

/** Connects Client -> gateway -> McpServer; `log` is where the gateway's LogClient sends (a fetch). */
async function setup(o: { failOpen?: boolean; fetch?: typeof fetch }) {
  const issuer = parseSignerKey(encodeSignerKey(ISSUER_NAME, SIG_TYPE_ED25519, ISSUER_SEED))
  const key = generateKey(`${PREFIX}agent/gw`)
  const config: GatewayConfig = {
    log: 'http://log.test',
    key,
    credentials: await issueCredentialChain(issuer, { subject: key.name, subjectKey: key }),
    policy: new ToolPolicy({ id: 'p', version: '1', tools: { add: { action: 'math.add', target: 'sum:{a}+{b}' } } }),
    failOpen: o.failOpen ?? false,
    waitWitnessed: false,
    logTimeoutMs: 2000,
  }
  const server = new McpServer({ name: 'calc', version: '0.9.0' })
  const seen: unknown[] = []
  server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
    seen.push({ a, b })
    return { content: [{ type: 'text', text: String(a + b) }], _meta: { 'calc/own': 1 } }
  })
  server.registerTool('sub', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
    seen.push({ a, b })
    return { content: [{ type: 'text', text: String(a - b) }] }
  })
  const [serverSide, gatewayUp] = InMemoryTransport.createLinkedPair()
  const [gatewayDown, clientSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const warnings: string[] = []
  const client = new LogClient({ url: config.log, retries: 0, ...(o.fetch === undefined ? {} : { fetch: o.fetch }) })
  const gateway = new McpGateway({ config, upstream: gatewayUp, downstream: gatewayDown, client, warn: (l) => warnings.push(l) })
  await gateway.start()
  const agent = new Client({ name: 'agent', version: '1' })
  await agent.connect(clientSide)
  open.push(async () => {
    await agent.close()
    await gateway.closed
  })
  return { agent, seen, warnings, key }
}

const unreachable: typeof fetch = () => Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }))

describe('McpGateway', () => {
  it('logs an allowed call, forwards it, and adds the proof reference beside the server\'s own _meta', async () => {
    const log = await makeLog()
    const { agent, seen, key } = await setup({ fetch: (url, init) => Promise.resolve(log.app.request(String(url), init)) })
    const r = await agent.callTool({ name: 'add', arguments: { a: 2, b: 3 } })
    expect(r.content).toEqual([{ type: 'text', text: '5' }])
    expect(seen).toEqual([{ a: 2, b: 3 }])
    const meta = r._meta as Record<string, unknown>
    expect(meta['calc/own']).toBe(1)
    const ref = meta[PROOF_META] as ProofRef
    expect(ref).toMatchObject({ origin: 'log.test.example/actlog', index: 0, url: 'http://log.test/proof/0?wait=witnessed' })
    const proof = parseTlogProof(await (await log.app.request('/proof/0')).text())
    const s = parseStatement(proof.extra!).statement
    expect(s).toMatchObject({ actor: key.name, action: 'math.add', target: 'sum:2+3', tool: 'mcp://calc/add@0.9.0', policy: { id: 'p', version: '1', decision: 'allow' } })
  })

  it('fails closed: a call that cannot be logged is refused and never reaches the server', async () => {
    const { agent, seen } = await setup({ fetch: unreachable })
    const err = (await agent.callTool({ name: 'add', arguments: { a: 1, b: 1 } }).catch((e: unknown) => e)) as McpError
    expect(err).toBeInstanceOf(McpError)
    expect(err.code).toBe(NOT_LOGGED)
    expect(err.message).toMatch(/UNREACHABLE: cannot reach the log/)
    expect(seen).toEqual([])
    expect((await agent.listTools()).tools.map((t) => t.name)).toEqual(['add', 'sub'])
  })

  it('with failOpen, forwards the call, warns, and says in the result that it was not logged', async () => {
    const { agent, seen, warnings } = await setup({ fetch: unreachable, failOpen: true })
    const r = await agent.callTool({ name: 'add', arguments: { a: 1, b: 2 } })
    expect(r.content).toEqual([{ type: 'text', text: '3' }])
    expect(seen).toEqual([{ a: 1, b: 2 }])
    expect((r._meta as Record<string, string>)[WARNING_META]).toMatch(/forwarded WITHOUT being logged/)
    expect((r._meta as Record<string, unknown>)[PROOF_META]).toBeUndefined()
    expect(warnings.join('\n')).toMatch(/WARNING: add: .*UNREACHABLE/)
  })

  it('denies a call outside the policy even when failOpen, and says the refusal was not logged when the log is down', async () => {
    const { agent, seen } = await setup({ fetch: unreachable, failOpen: true })
    const err = (await agent.callTool({ name: 'sub', arguments: { a: 1, b: 2 } }).catch((e: unknown) => e)) as McpError
    expect(err.code).toBe(DENIED)
    expect(err.message).toMatch(/not in the allow-list.*and the refusal could not be logged/)
    expect(seen).toEqual([])
  })
})
