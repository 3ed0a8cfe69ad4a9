import type { z } from 'zod'
import { WebhookError } from '../errors.ts'
import type { SecretBox } from '../secret-box.ts'
import type { Db } from '../store/database.ts'
import { deliveryOperations } from './delivery-operations.ts'
import { endpointOperations } from './endpoint-operations.ts'
import type { Operation } from './operation.ts'
import { orgStore } from './org-scope.ts'
import { portalOperations } from './portal-operations.ts'
import { recoveryOperations } from './recovery-operations.ts'
import { OrgId } from './schemas/common.ts'
import { secretOperations } from './secret-operations.ts'

/** Every operation of the org-scoped API, by name: the TypeScript API, the HTTP API and the CLI call these. */
export const operations = {
  ...endpointOperations,
  ...deliveryOperations,
  ...recoveryOperations,
  ...secretOperations,
  ...portalOperations,
}

export type Operations = typeof operations
export type OperationName = keyof Operations

type AnyOperation = Operation<z.ZodObject, z.ZodType>

type Call<O> =
  O extends Operation<infer I, infer R>
    ? Record<never, never> extends z.input<I>
      ? (orgId: string, input?: z.input<I>) => Promise<z.output<R>>
      : (orgId: string, input: z.input<I>) => Promise<z.output<R>>
    : never

/** The org-scoped API: every method takes the org id first, then its input. */
export type WebhooksApi = { [K in OperationName]: Call<Operations[K]> }

export type WebhooksApiOptions = {
  /** The render service's database (or a transaction in it, to run calls inside it). */
  db: Db
  /** Seals and opens destination secrets: createSecretBox(WEBHOOK_SECRETS_KEY, …). */
  box: SecretBox
  /** How long a replaced secret keeps signing after a rotation (WEBHOOK_SECRET_ROTATION_GRACE). */
  rotationGraceMs: number
  /** Where the portal is served (WEBHOOK_PORTAL_URL), e.g. https://webhooks.example.com; portal links start with it. */
  portalUrl?: string | undefined
}

/**
 * A ZodError as INVALID_ARGUMENT naming the first refused field (dotted: `event_types.0`), its
 * message read as the SQL checks' are: `<field> <problem>`.
 */
export function invalidInput(error: z.ZodError, prefix?: string): WebhookError {
  const issue = error.issues[0]
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== undefined).join('.')
  const field = path === '' ? undefined : path
  const problem =
    issue === undefined ? 'is invalid' : issue.message.replace(/^[A-Z](?![A-Z])/, (c) => c.toLowerCase())
  return new WebhookError('INVALID_ARGUMENT', `${field ?? 'input'} ${problem}`, { cause: error, field })
}

/** Runs one operation for one org: the org id and the input are checked first. */
export async function callOperation(
  options: WebhooksApiOptions,
  name: OperationName,
  orgId: unknown,
  input: unknown,
): Promise<unknown> {
  const op = operations[name] as unknown as AnyOperation
  const org = OrgId.safeParse(orgId)
  if (!org.success) {
    throw invalidInput(org.error, 'org_id')
  }
  const parsed = op.input.safeParse(input ?? {})
  if (!parsed.success) {
    throw invalidInput(parsed.error)
  }
  const { box, rotationGraceMs, portalUrl } = options
  return op.run({ box, rotationGraceMs, portalUrl, store: orgStore(options.db, org.data) }, parsed.data)
}

/**
 * The org-scoped management API, in process. Every call takes the org id; an id that belongs to
 * another org answers exactly as an unknown one (NOT_FOUND). Bad input throws INVALID_ARGUMENT
 * naming the field. Times are ISO 8601 strings.
 *
 * @example
 * const api = createWebhooksApi({ db, box: createSecretBox(key), rotationGraceMs: 86_400_000 })
 * const { id, secret } = await api.createEndpoint('org_1', { url: 'https://your.app/hooks', event_types: ['video.*'] })
 * const { data, next_cursor } = await api.listDeliveries('org_1', { status: ['dropped'], limit: 20 })
 */
export function createWebhooksApi(options: WebhooksApiOptions): WebhooksApi {
  const api: Record<string, (orgId: string, input?: unknown) => Promise<unknown>> = {}
  for (const name of Object.keys(operations) as OperationName[]) {
    api[name] = (orgId, input) => callOperation(options, name, orgId, input)
  }
  return api as WebhooksApi
}
