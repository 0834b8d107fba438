import type { Server, ServerOptions } from 'node:http'
import type { HttpLimits } from './config.ts'

/**
 * Node's HTTP server options for the log's limits on slow clients. Headers
 * get `headersTimeoutMs`; a body's deadline (`bodyTimeoutMs`) is kept by
 * admission, which answers 408 `TIMEOUT` and closes the connection. Node's
 * whole-request timeout stays as a backstop a little beyond both, for a
 * request no handler reads. Checked every second: Node's default (every
 * 30 s) let a client hold a connection for that much longer. The wait for
 * an answer (`?wait=witnessed`) is not limited: the request is complete by
 * then.
 */
export function httpServerOptions(l: HttpLimits): ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.headersTimeoutMs + l.bodyTimeoutMs + 5_000,
    connectionsCheckingInterval: 1_000,
  }
}

/**
 * Sets the limits Node takes on the server itself: idle keep-alive
 * connections close after `keepAliveTimeoutMs`, and beyond `maxConnections`
 * open connections a new one is closed at once (the process's file
 * descriptor limit, `ulimit -n`, must be above it).
 */
export function limitConnections(server: Server, l: HttpLimits): void {
  server.keepAliveTimeout = l.keepAliveTimeoutMs
  server.maxConnections = l.maxConnections
}
