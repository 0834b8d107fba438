/**
 * A bare Hono POST endpoint on @hono/node-server, run as its own process by
 * the benchmark: the request rate it sustains is the ceiling any Hono route
 * can reach on this machine with the same load generator.
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import type { AddressInfo } from 'node:net'

const app = new Hono()
app.post('/add', async (c) => {
  await c.req.arrayBuffer()
  return c.json({ ok: true })
})
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
server.once('listening', () => console.log(`serving http://127.0.0.1:${(server.address() as AddressInfo).port}`))
process.once('SIGTERM', () => server.close(() => process.exit(0)))
