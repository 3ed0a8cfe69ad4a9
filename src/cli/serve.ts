import { startApiServer } from '../api/http/server.ts'
import { loadConfig } from '../config.ts'
import { embeddedUrlIfPresent } from '../dev/embedded-postgres.ts'
import { createLogger, prettyDestination, wantsPrettyLog } from '../logger.ts'
import { createSecretBox } from '../secret-box.ts'
import { createDb, createPool } from '../store/database.ts'
import { refuseUnmigrated } from '../worker/runner.ts'
import { reachDatabase } from './context.ts'
import type { Command } from './io.ts'
import { CommandError, parse } from './io.ts'

export const serveCommand: Command = {
  usage: `imtegrate-webhooks serve

Serves the HTTP API (JSON under /v1/orgs/{org}/..., the OpenAPI document at /v1/openapi.json) on
WEBHOOK_API_HOST:WEBHOOK_API_PORT (default 127.0.0.1:8787) until SIGTERM or SIGINT. Callers send
an API key (imtegrate-webhooks api-keys create). The webhook portal is served under /portal (links:
imtegrate-webhooks portal link). The database must be migrated.`,
  async run(args, io) {
    parse(args, {})
    const config = loadConfig(io.env)
    const url = config.databaseUrl ?? embeddedUrlIfPresent()
    if (url === undefined) {
      throw new CommandError(
        'DATABASE_URL is not set (and no embedded database was started with `npm start`)',
      )
    }
    const logger = createLogger(
      config.logLevel,
      wantsPrettyLog(process.stdout, config.nodeEnv) ? await prettyDestination() : undefined,
    )
    const pool = createPool(url, config.poolSize, logger, 'imtegrate-webhooks-api')
    await reachDatabase(pool)
    const db = createDb(pool, config.queryTimeoutMs)
    try {
      await refuseUnmigrated(pool)
      if (config.secretsKey === undefined) {
        logger.warn(
          'WEBHOOK_SECRETS_KEY is not set: endpoint secrets are stored unencrypted (development only)',
        )
      }
      const server = await startApiServer({
        db,
        box: createSecretBox(config.secretsKey, config.secretsKeyPrevious),
        rotationGraceMs: config.rotationGraceMs,
        logger,
        host: config.apiHost,
        port: config.apiPort,
        portalUrl: config.portalUrl,
        frameAncestors: config.portalFrameAncestors,
      })
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', resolve)
        process.once('SIGINT', resolve)
      })
      logger.info({ signal }, 'stopping the API')
      await server.close(config.shutdownTimeoutMs)
    } finally {
      await db.destroy()
    }
  },
}
