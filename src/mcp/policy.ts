import { Ajv, type ValidateFunction } from 'ajv'

/** One link of a delegation chain: on whose behalf, for what scope. */
export interface DelegationRule {
  principal: string
  scope: string
}

/** How one allowed tool is logged and which arguments it accepts. */
export interface ToolRule {
  /** The statement's `action` (default: the tool's name). */
  action?: string
  /**
   * The statement's `target`: a template whose `{name}` placeholders take the
   * call's top-level arguments of that name (strings, numbers, booleans);
   * default `mcp://<server name>/<tool name>`.
   */
  target?: string
  /** A JSON Schema (draft 2020-12 subset Ajv supports) the call's arguments must match; absent: any arguments. */
  arguments?: Record<string, unknown>
  /** On whose behalf calls of this tool are made (replaces the policy's `delegation`). */
  delegation?: DelegationRule[]
}

/** The allow-list policy of a gateway (the `policy` object of gateway.json). */
export interface ToolPolicyConfig {
  /** The policy's identifier, logged in every statement (e.g. `agent-tools`). */
  id: string
  /** Its version, logged in every statement (change it with every edit). */
  version: string
  /** The allowed tools, by name; every other tool is denied. */
  tools: Record<string, ToolRule>
  /** On whose behalf the agent acts, outermost principal first (logged with every call). */
  delegation?: DelegationRule[]
}

/** What the policy decided for one call, and how to log it. */
export interface Decision {
  decision: 'allow' | 'deny'
  /** Why a call was denied (for the agent and the operator). */
  reason?: string
  action: string
  target: string
  delegation: DelegationRule[]
}

const TEXT = { type: 'string', minLength: 1, maxLength: 1024 } as const
const DELEGATION = {
  type: 'array',
  maxItems: 8,
  items: { type: 'object', additionalProperties: false, required: ['principal', 'scope'], properties: { principal: TEXT, scope: TEXT } },
} as const

/** The JSON Schema of the policy object itself: a typo in a field name is refused, not ignored. */
export const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'version', 'tools'],
  properties: {
    id: TEXT,
    version: TEXT,
    delegation: DELEGATION,
    tools: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { action: TEXT, target: TEXT, arguments: { type: 'object' }, delegation: DELEGATION },
      },
    },
  },
} as const

interface CompiledRule {
  rule: ToolRule
  check: ValidateFunction | undefined
}

/**
 * An allow-list of MCP tools: a call is allowed only when its tool is listed
 * and its arguments match the tool's JSON Schema. Schemas are compiled once,
 * by Ajv in strict mode, so an unknown keyword in a policy is an error at
 * start, not a constraint silently not checked.
 */
export class ToolPolicy {
  readonly id: string
  readonly version: string
  readonly #rules = new Map<string, CompiledRule>()
  readonly #delegation: DelegationRule[]
  // Strict schemas (an unknown keyword is an error); no logger, as stdout is the MCP channel.
  readonly #ajv = new Ajv({ strict: true, strictTypes: false, strictTuples: false, allErrors: false, logger: false })

  /** Throws TypeError naming the field when `config` is not a valid policy. */
  constructor(config: unknown) {
    const ajv = this.#ajv
    const valid = ajv.compile(POLICY_SCHEMA)
    if (!valid(config)) throw new TypeError(`the policy is not valid: ${ajv.errorsText(valid.errors, { dataVar: 'policy' })}`)
    const c = config as ToolPolicyConfig
    this.id = c.id
    this.version = c.version
    this.#delegation = c.delegation ?? []
    for (const [name, rule] of Object.entries(c.tools)) {
      let check: ValidateFunction | undefined
      if (rule.arguments !== undefined) {
        try {
          check = ajv.compile(rule.arguments)
        } catch (e) {
          throw new TypeError(`the arguments schema of tool ${JSON.stringify(name)} is not valid: ${(e as Error).message}`)
        }
      }
      this.#rules.set(name, { rule, check })
    }
  }

  /** Returns the decision on a call of `tool` with `args` to the server named `server`. Never throws on what the agent sent. */
  decide(server: string, tool: string, args: unknown): Decision {
    const found = this.#rules.get(tool)
    const base = { action: found?.rule.action ?? tool, delegation: found?.rule.delegation ?? this.#delegation }
    const fallbackTarget = `mcp://${server}/${tool}`
    if (found === undefined) {
      return { ...base, target: fallbackTarget, decision: 'deny', reason: `the tool ${JSON.stringify(tool)} is not in the allow-list of policy ${this.id}@${this.version}` }
    }
    if (found.check !== undefined && !found.check(args ?? {})) {
      const why = this.#ajv.errorsText(found.check.errors, { dataVar: 'arguments' })
      return { ...base, target: fallbackTarget, decision: 'deny', reason: `the arguments of ${tool} break policy ${this.id}@${this.version}: ${why}` }
    }
    if (found.rule.target === undefined) return { ...base, target: fallbackTarget, decision: 'allow' }
    const filled = fillTarget(found.rule.target, args)
    if (typeof filled !== 'string') {
      return { ...base, target: fallbackTarget, decision: 'deny', reason: `the target of ${tool} needs the argument ${JSON.stringify(filled.missing)} (a string, number or boolean)` }
    }
    return { ...base, target: filled, decision: 'allow' }
  }
}

/** Returns the template with each `{name}` replaced by that top-level argument, or which argument was missing. */
function fillTarget(template: string, args: unknown): string | { missing: string } {
  const a = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>
  let missing: string | undefined
  const out = template.replace(/\{([^{}]+)\}/g, (_m, name: string) => {
    const v = Object.hasOwn(a, name) ? a[name] : undefined
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v)
    missing ??= name
    return ''
  })
  return missing === undefined ? out : { missing }
}
