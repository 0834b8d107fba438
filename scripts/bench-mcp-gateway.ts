/**
 * The latency the MCP gateway adds to a tool call. A real log and two real
 * witnesses (LevelDB, the default batching), the small MCP server of the
 * tests, and two real MCP Clients over stdio: one to the server directly,
 * one through `actlog mcp-gateway` (which signs a statement, submits it,
 * waits for the log's acknowledgement, then forwards). Calls are sequential
 * and interleaved (direct, gateway, direct, ...) so both see the same
 * machine state; the added latency is gateway minus direct, per percentile.
 *
 * Usage: node --import tsx scripts/bench-mcp-gateway.ts [--calls 500] [--warmup 50]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { LogClient, encodeCredentials, encodeKey, generateKey, issueCredentialChain, requestDigest, signAction, verifierKey } from '../src/client/index.ts'
import { ACTLOG, launch, writeNetwork, type Child } from './bench-network.ts'

const SERVER = fileURLToPath(new URL('../test/helpers/mcp-server.mjs', import.meta.url))
const { values } = parseArgs({ options: { calls: { type: 'string', default: '500' }, warmup: { type: 'string', default: '50' } } })
const CALLS = Number(values.calls)
const WARMUP = Number(values.warmup)

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

async function connect(command: string, args: string[]): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' })
  await client.connect(new StdioClientTransport({ command, args, stderr: 'inherit' }))
  return client
}

const dir = mkdtempSync(join(tmpdir(), 'actlog-bench-mcp-'))
const children: Child[] = []
try {
  const issuer = generateKey('issuer.bench.example', 'issuer')
  const net = await writeNetwork(join(dir, 'net'), `issuer bench ${verifierKey(issuer)} spiffe://bench.example/\n`)
  for (const w of net.witnessConfigs) children.push(await launch(ACTLOG, ['witness', '--config', w]))
  const log = await launch(ACTLOG, ['serve', '--config', net.logConfig])
  children.push(log)
  const agent = generateKey('spiffe://bench.example/agent/gateway')
  writeFileSync(join(dir, 'gateway.key'), encodeKey(agent))
  writeFileSync(join(dir, 'gateway.cred'), encodeCredentials(await issueCredentialChain(issuer, { subject: agent.name, subjectKey: agent })))
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify({ log: log.url, keyFile: 'gateway.key', credentialsFile: 'gateway.cred', policy: { id: 'bench', version: '1', tools: { echo: {} } } }))

  const direct = await connect(process.execPath, [SERVER])
  const gateway = await connect(process.execPath, [ACTLOG, 'mcp-gateway', '--config', join(dir, 'gateway.json'), '--', process.execPath, SERVER])
  // The log's part of the added latency: sign and submit one statement, as the gateway does, without MCP.
  const logClient = new LogClient({ url: log.url })
  const chain = await issueCredentialChain(issuer, { subject: agent.name, subjectKey: agent })
  const submit = async (i: number): Promise<void> => {
    const entry = await signAction(agent, chain, { action: 'echo', target: 'mcp://bench/echo', tool: 'mcp://bench/echo@1', params: requestDigest(`submit ${i}`), policy: { id: 'bench', version: '1', decision: 'allow' } })
    await logClient.submit(entry)
  }
  const times = { direct: [] as number[], gateway: [] as number[], submit: [] as number[] }
  for (let i = 0; i < WARMUP + CALLS; i++) {
    for (const [name, call] of [
      ['direct', () => direct.callTool({ name: 'echo', arguments: { text: `call ${i}` } })],
      ['gateway', () => gateway.callTool({ name: 'echo', arguments: { text: `call ${i}` } })],
      ['submit', () => submit(i)],
    ] as const) {
      const t0 = performance.now()
      await call()
      if (i >= WARMUP) times[name].push(performance.now() - t0)
    }
  }
  await direct.close()
  await gateway.close()
  const summary = (xs: number[]): { p50: number; p99: number; mean: number } => {
    const s = [...xs].sort((a, b) => a - b)
    return { p50: percentile(s, 50), p99: percentile(s, 99), mean: xs.reduce((a, b) => a + b, 0) / xs.length }
  }
  const d = summary(times.direct)
  const g = summary(times.gateway)
  const ms = (x: number): string => `${x.toFixed(2)} ms`
  console.log(`tool call (echo), ${CALLS} sequential calls each after ${WARMUP} warm-up, log + 2 witnesses on LevelDB, default batching`)
  console.log(`  direct          p50 ${ms(d.p50)}  p99 ${ms(d.p99)}  mean ${ms(d.mean)}`)
  console.log(`  through gateway p50 ${ms(g.p50)}  p99 ${ms(g.p99)}  mean ${ms(g.mean)}`)
  console.log(`  added           p50 ${ms(g.p50 - d.p50)}  p99 ${ms(g.p99 - d.p99)}`)
  const s = summary(times.submit)
  console.log(`  of which the log's acknowledgement (sign + submit, no MCP): p50 ${ms(s.p50)}  p99 ${ms(s.p99)}`)
} finally {
  for (const c of children) await c.stop()
  rmSync(dir, { recursive: true, force: true })
}
