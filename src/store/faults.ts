import pg from 'pg'
import { sqlState } from '../errors.ts'

/**
 * SQLSTATE classes of errors that one row can raise inside a batched statement: data exceptions
 * (an overflow, a value out of range), integrity violations, a trigger's RAISE, routine and
 * trigger exceptions, a program limit (a value too large for an index). Anything else (a lost
 * connection, a deadline, a deadlock, a shutdown, a missing table) is about the database or the
 * moment, not the rows: the batch is tried again whole.
 */
const DATA_FAULT_CLASSES = new Set(['22', '23', 'P0', '2F', '38', '39', '44', '27', '09', '54'])

/** Whether a failed batched statement failed because of what one of its rows holds. */
export function isDataFault(error: unknown): boolean {
  const state = sqlState(error)
  return state !== undefined && DATA_FAULT_CLASSES.has(state.slice(0, 2))
}

/**
 * The SQLSTATE of an error PostgreSQL raised about a statement (a missing column or function, a
 * refused value, a timeout), or undefined when the database could not be reached: no answer at
 * all (a refused or lost connection, a deadline of ours; these carry no SQLSTATE, or a Node code
 * such as EPIPE that looks like one), or the server ending the session (class 08, and 57P:
 * shutting down, starting up).
 */
export function statementFault(error: unknown): string | undefined {
  const state = error instanceof pg.DatabaseError ? sqlState(error) : undefined
  return state === undefined || state.startsWith('08') || state.startsWith('57P') ? undefined : state
}
