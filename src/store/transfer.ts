// What `npm run admin -- migrate` moves from SQLite to PostgreSQL: bindings as they are, and audit
// rows with the random id each store already gives them, so that a second run recognises what the
// first one copied. Outside the Store contract: only the CLI uses it.
import type { AuditEvent, Binding } from '../model.ts';

/** An audit row with its id (unique per row, random, never reused). */
export interface ExportedAuditEvent extends AuditEvent {
  id: string;
}

export interface ImportedBindings {
  /** Written now. */
  copied: number;
  /** There already, to the same internal user. */
  already: number;
  /** There already, bound to someone else (the target's binding is kept: bindings are never replaced). */
  differing: Binding[];
  /**
   * Not there, and not copied: the target's audit trail has a row for that identity later than the
   * source's last one (unlinked or revoked there after an earlier run), so copying would undo it.
   */
  superseded: Binding[];
}

/** A binding to import, with the time of the source's last audit row for its identity. */
export interface BindingToImport extends Binding {
  sourceLatest: number;
}

export interface ImportedAudit {
  copied: number;
  already: number;
}
