import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { loadGatewayConfig } from './config.ts'
import { McpGateway } from './gateway.ts'

/** Options of `actlog mcp-gateway`. */
export interface GatewayCommand {
  /** The gateway.json file. */
  config: string
  /** A Streamable HTTP MCP server's URL, instead of a command. */
  upstream?: string
  /** The command (and arguments) that starts a stdio MCP server, instead of a URL. */
  command: string[]
}

/**
 * `actlog mcp-gateway`: serves MCP on stdin/stdout for the agent's client
 * and relays to the MCP server (a child process over stdio, or a Streamable
 * HTTP URL), logging every tools/call. Resolves when either side closes.
 * Warnings go to stderr.
 */
export async function runMcpGateway(o: GatewayCommand): Promise<void> {
  if ((o.upstream === undefined) === (o.command.length === 0)) {
    throw new TypeError('give the MCP server: either --upstream <url> or -- <command that starts it>')
  }
  const config = loadGatewayConfig(o.config)
  let upstream: Transport
  if (o.upstream !== undefined) {
    let url: URL
    try {
      url = new URL(o.upstream)
    } catch {
      throw new TypeError(`--upstream ${JSON.stringify(o.upstream)} is not a URL`)
    }
    upstream = new StreamableHTTPClientTransport(url)
  } else {
    // The server gets the gateway's whole environment, as if the client had started it.
    const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined))
    upstream = new StdioClientTransport({ command: o.command[0]!, args: o.command.slice(1), env, stderr: 'inherit' })
  }
  const gateway = new McpGateway({ config, upstream, downstream: new StdioServerTransport(), warn: (line) => process.stderr.write(line + '\n') })
  // The stdio server transport does not watch for the end of stdin: the agent's client went away.
  process.stdin.once('end', () => void gateway.close())
  await gateway.start()
  await gateway.closed
}
