import pg from 'pg'
import { sqlState } from '../errors.ts'

/** The data directory of the server `client` is connected to. */
export async function dataDirectory(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`)
  return rows[0]?.dir ?? ''
}

/** Creates database `name` unless it exists; another session creating it at the same moment is success. */
export async function createDatabaseIfMissing(client: pg.ClientBase, name: string): Promise<void> {
  const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name])
  if (rowCount !== 0) {
    return
  }
  try {
    await client.query(`create database ${pg.escapeIdentifier(name)}`)
  } catch (error) {
    const state = sqlState(error)
    if (state !== '42P04' && state !== '23505') {
      throw error
    }
  }
}
