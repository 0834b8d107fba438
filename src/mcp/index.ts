/**
 * actlog's MCP gateway: relays an agent's MCP traffic to a server, deciding
 * each tools/call by an allow-list policy and logging it as an action
 * statement before forwarding it. The only module that imports
 * @modelcontextprotocol/sdk.
 */
export { loadGatewayConfig, type GatewayConfig } from './config.ts'
export { DENIED, McpGateway, NOT_LOGGED, PROOF_META, UPSTREAM_FAILED, WARNING_META, type GatewayOptions, type ProofRef } from './gateway.ts'
export { POLICY_SCHEMA, ToolPolicy, type Decision, type DelegationRule, type ToolPolicyConfig, type ToolRule } from './policy.ts'
export { runMcpGateway, type GatewayCommand } from './run.ts'
