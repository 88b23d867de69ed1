-- The audit log is append-only: rows are inserted and never changed or deleted, whatever code
-- or SQL client tries (TRUNCATE is refused too). Retention, if ever needed, is a deliberate
-- migration that drops these triggers first.
-- The function body is an E'' string with its semicolons escaped (\x3b): the migration runner
-- splits scripts at every semicolon, quoted or not.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS E'BEGIN RAISE EXCEPTION ''the audit log is append-only: % is not allowed'', TG_OP USING ERRCODE = ''insufficient_privilege''\x3b END\x3b';

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON "audit_log"
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
