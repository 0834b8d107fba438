/**
 * A small real MCP server for the gateway tests, built with the SDK's
 * McpServer, that records the exact bytes of every message it receives.
 *
 *   node test/helpers/mcp-server.mjs            stdio
 *   node test/helpers/mcp-server.mjs --http     Streamable HTTP on 127.0.0.1 (prints "serving <url>")
 *
 * MCP_RECORD names a file that gets one JSON line per received message:
 * { b64: the message's bytes (a stdio line without its newline, or an HTTP
 * body), treeSize: for a tools/call, the log's tree size (GET /healthz of
 * ACTLOG_LOG_URL) read when the message arrived, before it is handled }.
 * Plain JavaScript, so it starts without a TypeScript loader.
 */
import { appendFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'

const RECORD = process.env.MCP_RECORD
const LOG = process.env.ACTLOG_LOG_URL

/** Records one received message; for a tools/call, first asks the log how many entries it holds. */
async function record(bytes) {
  let treeSize = null
  if (LOG !== undefined && bytes.includes('"tools/call"')) {
    try {
      treeSize = (await (await fetch(`${LOG}/healthz`)).json()).treeSize
    } catch {
      treeSize = -1
    }
  }
  if (RECORD !== undefined) appendFileSync(RECORD, JSON.stringify({ b64: Buffer.from(bytes).toString('base64'), treeSize }) + '\n')
}

function makeServer() {
  const server = new McpServer({ name: 'recording-server', version: '1.2.3' })
  server.registerTool('echo', { description: 'Echoes the text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }))
  server.registerTool(
    'transfer',
    { description: 'Moves money', inputSchema: { amount: z.number(), to: z.string() } },
    async ({ amount, to }) => ({ content: [{ type: 'text', text: `sent ${amount} to ${to}` }] }),
  )
  server.registerTool('wipe', { description: 'Deletes everything', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'wiped' }] }))
  return server
}

if (process.argv.includes('--http')) {
  // One server and transport per session, as the SDK's examples do.
  const sessions = new Map()
  const http = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const body = Buffer.concat(chunks)
      const sid = req.headers['mcp-session-id']
      let transport = typeof sid === 'string' ? sessions.get(sid) : undefined
      if (req.method !== 'POST') {
        if (transport === undefined) res.writeHead(404).end()
        else transport.handleRequest(req, res)
        return
      }
      await record(body)
      const message = JSON.parse(body.toString('utf8'))
      if (transport === undefined && isInitializeRequest(message)) {
        const t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => sessions.set(id, t) })
        await makeServer().connect(t)
        transport = t
      }
      if (transport === undefined) res.writeHead(404).end()
      else transport.handleRequest(req, res, message)
    })
  })
  http.listen(0, '127.0.0.1', () => console.log(`serving http://127.0.0.1:${http.address().port}/mcp`))
  process.on('SIGTERM', () => process.exit(0))
} else {
  // Lines reach the SDK's transport only after they are recorded, in order.
  const tap = new PassThrough()
  let pending = Buffer.alloc(0)
  let chain = Promise.resolve()
  process.stdin.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk])
    let nl
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      const line = pending.subarray(0, nl)
      pending = pending.subarray(nl + 1)
      chain = chain.then(async () => {
        await record(line)
        tap.write(Buffer.concat([line, Buffer.from('\n')]))
      })
    }
  })
  process.stdin.on('end', () => process.exit(0))
  await makeServer().connect(new StdioServerTransport(tap, process.stdout))
}
