import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js'
import { LogClient, requestDigest, signAction, type Added } from '../client/index.ts'
import type { GatewayConfig } from './config.ts'

/** JSON-RPC error code of a `tools/call` the policy denied. */
export const DENIED = -32001
/** JSON-RPC error code of a `tools/call` refused because it could not be logged (fail closed). */
export const NOT_LOGGED = -32002
/** JSON-RPC error code of a request the MCP server could not be sent. */
export const UPSTREAM_FAILED = -32003
/** The `_meta` key of a result carrying the call's proof reference. */
export const PROOF_META = 'actlog/proof'
/** The `_meta` key of a result whose call was forwarded without being logged (failOpen). */
export const WARNING_META = 'actlog/warning'

/** Where a call's statement is in the log: enough to fetch and verify its proof. */
export interface ProofRef {
  /** The log's origin (its checkpoint's first line). */
  origin: string
  index: number
  /** The statement's leaf hash, lowercase hex. */
  leafHash: string
  /** Where the witnessed `.tlog-proof` of the statement is served. */
  url: string
}

/** What a gateway connects. */
export interface GatewayOptions {
  config: GatewayConfig
  /** Towards the agent's MCP client: the gateway is its server. */
  downstream: Transport
  /** Towards the MCP server: the gateway is its client. */
  upstream: Transport
  /** Where warnings go (never stdout, which may be the MCP channel). */
  warn?: (line: string) => void
  /** The log client (default: one for `config.log`). */
  client?: LogClient
}

/** What the gateway adds to the result of a forwarded call. */
type CallMeta = { [PROOF_META]: ProofRef } | { [WARNING_META]: string }

const isRequest = (m: JSONRPCMessage): m is JSONRPCRequest => 'method' in m && 'id' in m
const isResponse = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } => !('method' in m) && 'id' in m

/**
 * An MCP gateway: relays JSON-RPC messages between an agent and an MCP
 * server unchanged, except `tools/call`. Each call is decided by the
 * allow-list policy, and logged as an action statement signed by the
 * gateway's identity, whose `params` is the SHA-256 of the exact message
 * then sent to the server (its JSON text as the transport writes it, without
 * the stdio newline). Only after the log acknowledged the statement is the
 * call forwarded; its result comes back with `_meta["actlog/proof"]`. A
 * denied call is logged with decision `deny` and answered with an error,
 * never forwarded. When the log cannot be reached the call is refused,
 * unless `failOpen`.
 */
export class McpGateway {
  readonly #o: GatewayOptions
  readonly #client: LogClient
  readonly #warn: (line: string) => void
  #server = { name: 'unknown', version: 'unknown' }
  readonly #initializing = new Set<RequestId>()
  readonly #calls = new Map<RequestId, CallMeta>()
  #closing: Promise<void> | undefined
  readonly closed: Promise<void>
  #onClosed!: () => void

  constructor(o: GatewayOptions) {
    this.#o = o
    this.#client = o.client ?? new LogClient({ url: o.config.log, retries: 3, timeoutMs: o.config.logTimeoutMs, backoffMs: 100 })
    this.#warn = o.warn ?? (() => {})
    this.closed = new Promise((resolve) => (this.#onClosed = resolve))
  }

  /** Starts the upstream (e.g. spawns the server), then listens to the agent. */
  async start(): Promise<void> {
    const { upstream, downstream } = this.#o
    upstream.onmessage = (m) => this.#fromServer(m)
    downstream.onmessage = (m) => this.#fromAgent(m)
    upstream.onclose = () => void this.close()
    downstream.onclose = () => void this.close()
    upstream.onerror = (e) => this.#warn(`actlog mcp-gateway: the MCP server's transport: ${e.message}`)
    downstream.onerror = (e) => this.#warn(`actlog mcp-gateway: the agent's transport: ${e.message}`)
    await upstream.start()
    await downstream.start()
  }

  /** Closes both sides once. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    // Set before closing either side: each side's onclose calls close() again, synchronously.
    let settle!: () => void
    this.#closing = new Promise((resolve) => (settle = resolve))
    void Promise.allSettled([this.#o.upstream.close(), this.#o.downstream.close()]).then(() => {
      this.#onClosed()
      settle()
    })
    return this.#closing
  }

  #fromAgent(m: JSONRPCMessage): void {
    if (isRequest(m) && m.method === 'tools/call') {
      void this.#call(m)
      return
    }
    if (isRequest(m) && m.method === 'initialize') this.#initializing.add(m.id)
    this.#forward(m)
  }

  #fromServer(m: JSONRPCMessage): void {
    if (isResponse(m)) {
      if (this.#initializing.delete(m.id) && 'result' in m) this.#initialized(m.result as Record<string, unknown>)
      const meta = this.#calls.get(m.id)
      if (meta !== undefined) {
        this.#calls.delete(m.id)
        if ('result' in m && typeof m.result === 'object' && m.result !== null) {
          const result = m.result as { _meta?: Record<string, unknown> }
          result._meta = { ...result._meta, ...meta }
        }
      }
    }
    this.#o.downstream.send(m).catch((e: unknown) => this.#warn(`actlog mcp-gateway: cannot answer the agent: ${String(e)}`))
  }

  /** Notes the server's name and version (they name the tool in statements) and, over HTTP, the protocol version. */
  #initialized(result: Record<string, unknown>): void {
    const info = result.serverInfo as { name?: unknown; version?: unknown } | undefined
    if (typeof info?.name === 'string' && info.name.length > 0) this.#server.name = info.name
    if (typeof info?.version === 'string' && info.version.length > 0) this.#server.version = info.version
    if (typeof result.protocolVersion === 'string') this.#o.upstream.setProtocolVersion?.(result.protocolVersion)
  }

  /** Sends a message to the server; a request that cannot be sent is answered with an error. */
  #forward(m: JSONRPCMessage): void {
    this.#o.upstream.send(m).catch((e: unknown) => {
      if (!isRequest(m)) {
        this.#warn(`actlog mcp-gateway: cannot send ${'method' in m ? m.method : 'a response'} to the MCP server: ${String(e)}`)
        return
      }
      this.#calls.delete(m.id)
      this.#answerError(m.id, UPSTREAM_FAILED, `actlog mcp-gateway: the MCP server could not be reached: ${e instanceof Error ? e.message : String(e)}`)
    })
  }

  #answerError(id: RequestId, code: number, message: string, data?: Record<string, unknown>): void {
    const error = data === undefined ? { code, message } : { code, message, data }
    this.#o.downstream.send({ jsonrpc: '2.0', id, error }).catch((e: unknown) => this.#warn(`actlog mcp-gateway: cannot answer the agent: ${String(e)}`))
  }

  /** Decides, logs, and forwards (or refuses) one `tools/call`. */
  async #call(req: JSONRPCRequest): Promise<void> {
    const { config } = this.#o
    const params = (req.params ?? {}) as { name?: unknown; arguments?: unknown }
    const name = typeof params.name === 'string' ? params.name : ''
    // The exact message the server will receive: its digest is logged, and
    // what is forwarded is parsed back from this very text, so nothing that
    // touches `req` later can make the two differ.
    const wire = JSON.stringify(req)
    const decision = config.policy.decide(this.#server.name, name, params.arguments)
    let added: Added | undefined
    let failure: string | undefined
    try {
      const entry = await signAction(config.key, config.credentials, {
        action: decision.action,
        target: decision.target,
        tool: `mcp://${this.#server.name}/${name}@${this.#server.version}`,
        params: requestDigest(wire),
        policy: { id: config.policy.id, version: config.policy.version, decision: decision.decision },
        delegation: decision.delegation,
      })
      added = await this.#client.submit(entry, { waitWitnessed: config.waitWitnessed, signal: AbortSignal.timeout(config.logTimeoutMs) })
    } catch (e) {
      failure = e instanceof Error ? `${'code' in e ? `${String(e.code)}: ` : ''}${e.message}` : String(e)
    }
    const ref = added === undefined ? undefined : this.#ref(added)
    if (decision.decision === 'deny') {
      const logged = ref === undefined ? ` (and the refusal could not be logged: ${failure})` : ''
      this.#answerError(req.id, DENIED, `actlog: denied: ${decision.reason}${logged}`, ref === undefined ? undefined : { [PROOF_META]: ref })
      return
    }
    if (ref === undefined) {
      if (!config.failOpen) {
        this.#answerError(req.id, NOT_LOGGED, `actlog: the call was not forwarded because it could not be logged (the gateway fails closed): ${failure}`)
        return
      }
      const warning = `this call was forwarded WITHOUT being logged (failOpen): ${failure}`
      this.#warn(`actlog mcp-gateway: WARNING: ${name}: ${warning}`)
      this.#calls.set(req.id, { [WARNING_META]: warning })
    } else {
      this.#calls.set(req.id, { [PROOF_META]: ref })
    }
    this.#forward(JSON.parse(wire) as JSONRPCMessage)
  }

  #ref(a: Added): ProofRef {
    return { origin: a.checkpoint.slice(0, a.checkpoint.indexOf('\n')), index: a.index, leafHash: a.leafHash, url: `${this.#client.url}/proof/${a.index}?wait=witnessed` }
  }
}
