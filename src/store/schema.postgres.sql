-- The whole PostgreSQL schema: the same tables as schema.sqlite.sql, for several replicas sharing
-- one database. src/store/postgres.ts applies it, under an advisory lock, when schema_version is
-- older than the program's; every statement is idempotent. Times are ms since the epoch (bigint),
-- as in SQLite; hashes and MACs are bytea.

-- The version this file describes: one row. A database from a newer release is refused.
CREATE TABLE IF NOT EXISTS schema_version (
  one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
  version integer NOT NULL
);

-- One row per Slack identity. slack_org is the enterprise id on Enterprise Grid (user ids are
-- org-wide there) and the team id elsewhere; with slack_user_id it is the identity's key.
CREATE TABLE IF NOT EXISTS bindings (
  slack_org           text NOT NULL,
  slack_user_id       text NOT NULL,
  slack_team_id       text NOT NULL,
  slack_enterprise_id text,
  slack_user_name     text NOT NULL,
  slack_team_domain   text NOT NULL,
  internal_user       text NOT NULL,
  created_at          bigint NOT NULL,
  verified_by         text CHECK (verified_by IN ('email', 'code', 'confirm', 'slack')), -- NULL: bound before it was recorded
  last_used_at        bigint,           -- the last command, written at most once an hour
  PRIMARY KEY (slack_org, slack_user_id)
);
-- One internal user may be bound from several workspaces; offboarding looks them up by name.
CREATE INDEX IF NOT EXISTS bindings_by_internal_user ON bindings (internal_user);
CREATE INDEX IF NOT EXISTS bindings_by_team ON bindings (slack_team_id);
-- Audit retention: a binding moved to its enterprise's key (a workspace joining a Grid organisation)
-- is explained by a linked row under its workspace's key, found by team and user.
CREATE INDEX IF NOT EXISTS bindings_by_team_user ON bindings (slack_team_id, slack_user_id);

-- Open association links. Only the SHA-256 of a nonce is kept: a copy of this database cannot be
-- turned into working links.
CREATE TABLE IF NOT EXISTS link_nonces (
  nonce_hash          bytea PRIMARY KEY,
  slack_org           text NOT NULL,
  slack_user_id       text NOT NULL,
  slack_team_id       text NOT NULL,
  slack_enterprise_id text,
  slack_user_name     text NOT NULL,
  slack_team_domain   text NOT NULL,
  command             text NOT NULL,    -- the slash command that made the link, e.g. /acct
  pending_text        text,             -- a command to run once linked (never a subcommand)
  channel_id          text,
  response_url        text,
  created_at          bigint NOT NULL,
  expires_at          bigint NOT NULL,
  -- One live link per Slack identity: a new link replaces the old one.
  CONSTRAINT link_nonces_one_per_user UNIQUE (slack_org, slack_user_id)
);
CREATE INDEX IF NOT EXISTS link_nonces_by_expiry ON link_nonces (expires_at);
CREATE INDEX IF NOT EXISTS link_nonces_by_team ON link_nonces (slack_team_id);

-- LINK_VERIFICATION=code: the link was confirmed in the browser by internal_user, and the binding
-- waits for the Slack user to type the code shown there. One per Slack identity; the code is kept
-- only as an HMAC under a key derived from a secret that is not in this database.
CREATE TABLE IF NOT EXISTS pending_confirmations (
  slack_org           text NOT NULL,
  slack_user_id       text NOT NULL,
  slack_team_id       text NOT NULL,
  slack_enterprise_id text,
  slack_user_name     text NOT NULL,
  slack_team_domain   text NOT NULL,
  command             text NOT NULL,
  pending_text        text,
  channel_id          text,
  response_url        text,
  internal_user       text NOT NULL,
  code_mac            bytea NOT NULL,
  failed_attempts     integer NOT NULL DEFAULT 0,
  created_at          bigint NOT NULL,
  expires_at          bigint NOT NULL,
  PRIMARY KEY (slack_org, slack_user_id)
);
CREATE INDEX IF NOT EXISTS pending_confirmations_by_expiry ON pending_confirmations (expires_at);
CREATE INDEX IF NOT EXISTS pending_confirmations_by_team ON pending_confirmations (slack_team_id);
CREATE INDEX IF NOT EXISTS pending_confirmations_by_internal_user ON pending_confirmations (internal_user);

-- Who linked what, when and how: written in the same transaction as the change it records, never
-- updated, deleted only by retention. Never a nonce, a code, a token or a secret.
CREATE TABLE IF NOT EXISTS audit_events (
  seq            bigserial PRIMARY KEY,     -- the order rows were written in
  id             text NOT NULL UNIQUE,      -- random, so that copies (admin migrate) stay idempotent
  time           bigint NOT NULL,
  action         text NOT NULL,
  reason         text,
  slack_org      text,
  slack_team_id  text,
  slack_user_id  text,
  internal_user  text,
  actor          text NOT NULL,
  request_id     text,
  client_address text
);
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events (time);
-- Also the link rate limit: link_created rows of one identity within the last minute.
CREATE INDEX IF NOT EXISTS audit_events_by_identity ON audit_events (slack_org, slack_user_id, time);
CREATE INDEX IF NOT EXISTS audit_events_by_internal_user ON audit_events (internal_user, time);

CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END
$$;
-- DROP then CREATE (not CREATE OR REPLACE TRIGGER) so that PostgreSQL 11 to 13 take it too.
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Slack Events API deliveries already handled, by event_id: a retry (also after a restart) does
-- its work once. Kept a day; Slack retries for about an hour.
CREATE TABLE IF NOT EXISTS slack_events_seen (
  event_id    text PRIMARY KEY,
  received_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS slack_events_seen_by_time ON slack_events_seen (received_at);

-- Replay protection shared by every replica: a signed Slack request's key (its signature), until
-- the end of the window its timestamp allows. SQLite keeps these in memory instead (one process).
CREATE TABLE IF NOT EXISTS request_claims (
  key        text PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS request_claims_by_expiry ON request_claims (expires_at);

-- The least age, in days, of an audit row that retention may delete. One row, 1 day unless the
-- owner raises it (docs/postgresql.md: the application's role may only read it); an upgrade keeps it.
CREATE TABLE IF NOT EXISTS audit_retention_floor (
  one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
  days    integer NOT NULL CHECK (days >= 1)
);
INSERT INTO audit_retention_floor (days) VALUES (1) ON CONFLICT (one_row) DO NOTHING;

-- Audit retention, as the server runs it every minute: rows older than `before` go, except the
-- latest `linked` row of each live binding (it explains who acts as whom, whatever its age), and
-- never a row younger than audit_retention_floor's days. SECURITY DEFINER: it runs with its owner's
-- rights, so an application role may be denied DELETE and TRUNCATE on audit_events and still run
-- retention, and only retention (docs/postgresql.md: "An application role that cannot erase the
-- audit trail").
CREATE OR REPLACE FUNCTION audit_events_retention(before bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
  WITH gone AS (
    DELETE FROM audit_events e
    WHERE e.time < least(before, (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                                 - coalesce((SELECT days FROM audit_retention_floor), 1) * 86400000::bigint)
      AND NOT (e.action = 'linked'
        AND (EXISTS (SELECT 1 FROM bindings b WHERE b.slack_org = e.slack_org AND b.slack_user_id = e.slack_user_id)
          -- moved to its enterprise's key when its workspace joined a Grid organisation (as in sqlite.ts)
          OR EXISTS (SELECT 1 FROM bindings b WHERE b.slack_team_id = e.slack_org AND b.slack_user_id = e.slack_user_id))
        AND NOT EXISTS (SELECT 1 FROM audit_events l
                        WHERE l.slack_org = e.slack_org AND l.slack_user_id = e.slack_user_id AND l.action = 'linked' AND l.seq > e.seq))
    RETURNING 1)
  SELECT count(*) FROM gone
$$;

INSERT INTO schema_version (version) VALUES (3) ON CONFLICT (one_row) DO UPDATE SET version = excluded.version;
