import pg from 'pg'

/**
 * Databases made by a run are named `<prefix>_<pid>_<random>` (tests iwt, bench iwb): those of
 * runs whose process is gone (killed, crashed) are dropped, templates included.
 */
export async function dropDeadRunDatabases(admin: pg.Client, prefix: string): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    "select datname from pg_database where datname ~ ('^' || $1 || '_[0-9]+_')",
    [prefix],
  )
  for (const { datname } of rows) {
    const pid = Number(datname.split('_')[1])
    if (pid === process.pid || isAlive(pid)) {
      continue
    }
    const name = pg.escapeIdentifier(datname)
    await admin.query(`alter database ${name} is_template false`).catch(() => undefined)
    await admin.query(`drop database if exists ${name} with (force)`)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
