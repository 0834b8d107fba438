import {
  NONCE_SIZE,
  PARAMS_SIZE,
  buildStatement,
  fromHex,
  generateSeed,
  sha256,
  utf8,
  type ActionStatement,
  type Credential,
  type DelegationLink,
  type SignerKey,
} from '../core/index.ts'

/** Bytes, or the same bytes as lowercase hex. */
export type BytesOrHex = Uint8Array | string

/**
 * An action to sign: what the actor did, to what, with which tool, under
 * which policy decision (docs/formats.md, "Payload"). The actor is the key's
 * name; the time and nonce are added when signing.
 */
export interface Action {
  /** The operation, e.g. `payments.transfer`. */
  action: string
  /** The resource acted on, e.g. `acct:DE89370400440532013000`. */
  target: string
  /** The tool and its version, e.g. `mcp://tools.acme.example/payments@1.4.2`. */
  tool: string
  /** SHA-256 of the exact request bytes the tool received (32 bytes, or 64 hex digits); see `requestDigest`. */
  params: BytesOrHex
  /** The policy that decided, its version and decision (e.g. `allow`, `deny`), and an optional reference to the decision record. */
  policy: { id: string; version: string; decision: string; ref?: BytesOrHex }
  /** On whose behalf, outermost principal first. */
  delegation?: { principal: string; scope: string; grant?: BytesOrHex }[]
  /** Who approved the action, and the approval record. */
  approval?: { by: string; ref: string }
}

/** When and with which nonce a statement is signed. */
export interface SignOptions {
  /** The statement time, ms since the epoch (default: the clock). The log refuses times far from its own clock. */
  now?: number
  /** 16 bytes that make the statement unique (default: random). */
  nonce?: Uint8Array
}

/** Returns the SHA-256 of request bytes (a string is taken as its UTF-8 bytes): the `params` of an action. */
export function requestDigest(request: Uint8Array | string): Uint8Array {
  return sha256(typeof request === 'string' ? utf8(request) : request)
}

function bytes(v: BytesOrHex, what: string, len?: number): Uint8Array {
  if (v instanceof Uint8Array) {
    if (len !== undefined && v.length !== len) throw new TypeError(`${what} must be ${len} bytes`)
    return v
  }
  if (typeof v !== 'string' || !/^([0-9a-f]{2})+$/.test(v) || (len !== undefined && v.length !== len * 2)) {
    throw new TypeError(`${what} must be ${len === undefined ? '' : `${len} bytes of `}lowercase hex`)
  }
  return fromHex(v)
}

/** Returns the statement payload for an action by `actor` at `now` with `nonce`. */
export function actionStatement(actor: string, a: Action, now: number, nonce: Uint8Array): ActionStatement {
  const s: ActionStatement = {
    actor,
    action: a.action,
    target: a.target,
    params: bytes(a.params, 'params', PARAMS_SIZE),
    tool: a.tool,
    policy: { id: a.policy.id, version: a.policy.version, decision: a.policy.decision },
    time: now,
    nonce: bytes(nonce, 'nonce', NONCE_SIZE),
  }
  if (a.policy.ref !== undefined) s.policy.ref = bytes(a.policy.ref, 'policy.ref')
  if (a.delegation !== undefined && a.delegation.length > 0) {
    s.delegation = a.delegation.map((d): DelegationLink => {
      const link: DelegationLink = { principal: d.principal, scope: d.scope }
      if (d.grant !== undefined) link.grant = bytes(d.grant, 'delegation grant')
      return link
    })
  }
  if (a.approval !== undefined) s.approval = { by: a.approval.by, ref: a.approval.ref }
  return s
}

/**
 * Returns the bytes of a signed action statement (a tagged COSE_Sign1 over
 * deterministic CBOR, docs/formats.md): the entry to submit to a log. The
 * actor is `key.name`, and `credentials` MUST be the chain issued for that
 * key, the actor's credential first. Throws TypeError on misuse (a chain for
 * someone else, malformed hex) and TlogError on a field the format refuses.
 */
export async function signAction(key: SignerKey, credentials: readonly Credential[], a: Action, opts: SignOptions = {}): Promise<Uint8Array> {
  if (credentials.length === 0) throw new TypeError('the credential chain is empty')
  if (credentials[0]!.subject !== key.name) {
    throw new TypeError(`the credential chain is for ${credentials[0]!.subject}, but the key is ${key.name}`)
  }
  const statement = actionStatement(key.name, a, opts.now ?? Date.now(), opts.nonce ?? generateSeed().slice(0, NONCE_SIZE))
  return buildStatement(statement, { seed: key.seed, credentials })
}
