/**
 * The public API for host applications. Recording is also plain SQL
 * (`webhooks.record_render_status`); the org-scoped management API (createWebhooksApi) is also
 * served over HTTP (`imtegrate-webhooks serve`); operators use the `imtegrate-webhooks` command.
 */
export { eventTypeCatalog } from './api/examples.ts'
export {
  createWebhooksApi,
  type OperationName,
  operations,
  type WebhooksApi,
  type WebhooksApiOptions,
} from './api/webhooks-api.ts'
export { type Config, loadConfig } from './config.ts'
export { generateSecret, imtegrateSignature, signatureHeaders, standardSignature } from './delivery/sign.ts'
export { type ErrorCode, WebhookError } from './errors.ts'
export {
  type RenderKind,
  type RenderStatus,
  type RenderStatusChange,
  recordRenderStatus,
} from './outbox/record.ts'
export { createSecretBox, type SecretBox } from './secret-box.ts'
export { createDb, createPool, type Db } from './store/database.ts'
export { migrate } from './store/migrate.ts'
export { startWorker, type WorkerHandle } from './worker/runner.ts'
