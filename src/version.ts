import { readFileSync } from 'node:fs'

/** The package version, sent in the User-Agent header. */
export const version: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version
