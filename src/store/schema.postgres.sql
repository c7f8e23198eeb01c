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

-- One slash command's reads and writes in one round trip (startCommand in src/store/postgres.ts; the
-- contract in src/store/store.ts): the replay claim; then the user's binding, its last use marked at
-- most once an hour; or, for a user who is not bound and needs one, a new link with the rate limit,
-- the replacement of an open link and the audit row, as createLink writes them. One row back: what
-- happened, and the binding as it was read (its row as JSON). A function rather than one statement:
-- the rate limit must be counted after the identity's advisory lock is held, and each statement of
-- a function reads with a snapshot of its own, where one statement has one snapshot throughout.
-- A change of its arguments needs a DROP FUNCTION in a migration (CREATE OR REPLACE would add a
-- second function beside this one).
CREATE OR REPLACE FUNCTION start_command(
  p_claim_key text, p_claim_expires_at bigint,  -- no claim (Socket Mode): NULL
  p_now bigint, p_org text, p_user_id text,
  p_touch_before bigint,                        -- a last use before this is recorded as p_now
  p_nonce_hash bytea,                           -- no link wanted: NULL; then the link's columns
  p_team_id text, p_enterprise_id text, p_user_name text, p_team_domain text,
  p_command text, p_pending_text text, p_channel_id text, p_response_url text, p_expires_at bigint,
  p_per_minute integer, p_rate_since bigint,    -- links allowed since p_rate_since; 0: no limit
  p_audit_id text, p_actor text, p_request_id text, p_client_address text
) RETURNS TABLE (outcome text, binding json) LANGUAGE plpgsql AS $$
DECLARE
  durable text := current_setting('synchronous_commit');
  found_binding bindings;
BEGIN
  -- A claim and a last-use mark are not waited for on disk (see claimRequest); a new link is.
  PERFORM set_config('synchronous_commit', 'off', true);
  IF p_claim_key IS NOT NULL THEN
    INSERT INTO request_claims (key, expires_at) VALUES (p_claim_key, p_claim_expires_at)
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE request_claims.expires_at <= p_now;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'replayed', NULL::json;
      RETURN;
    END IF;
  END IF;
  SELECT * INTO found_binding FROM bindings WHERE slack_org = p_org AND slack_user_id = p_user_id;
  IF FOUND THEN
    IF found_binding.last_used_at IS NULL OR found_binding.last_used_at < p_touch_before THEN
      UPDATE bindings SET last_used_at = p_now
        WHERE slack_org = p_org AND slack_user_id = p_user_id AND (last_used_at IS NULL OR last_used_at < p_touch_before);
    END IF;
    RETURN QUERY SELECT 'bound', to_json(found_binding);
    RETURN;
  END IF;
  IF p_nonce_hash IS NULL THEN
    RETURN QUERY SELECT 'unbound', NULL::json;
    RETURN;
  END IF;
  PERFORM set_config('synchronous_commit', durable, true);
  -- As createLink: this identity's link changes one at a time across replicas, counted after the lock.
  PERFORM pg_advisory_xact_lock(hashtextextended(p_org || '/' || p_user_id, 0));
  IF p_per_minute > 0 AND (SELECT count(*) FROM audit_events
      WHERE slack_org = p_org AND slack_user_id = p_user_id AND time > p_rate_since AND action = 'link_created') >= p_per_minute THEN
    RETURN QUERY SELECT 'link_rate_limited', NULL::json;
    RETURN;
  END IF;
  DELETE FROM link_nonces WHERE slack_org = p_org AND slack_user_id = p_user_id;
  INSERT INTO link_nonces
    (nonce_hash, slack_org, slack_user_id, slack_team_id, slack_enterprise_id, slack_user_name, slack_team_domain,
     command, pending_text, channel_id, response_url, created_at, expires_at)
  VALUES (p_nonce_hash, p_org, p_user_id, p_team_id, p_enterprise_id, p_user_name, p_team_domain,
     p_command, p_pending_text, p_channel_id, p_response_url, p_now, p_expires_at);
  INSERT INTO audit_events
    (id, time, action, reason, slack_org, slack_team_id, slack_user_id, internal_user, actor, request_id, client_address)
  VALUES (p_audit_id, p_now, 'link_created', NULL, p_org, p_team_id, p_user_id, NULL, p_actor, p_request_id, p_client_address);
  RETURN QUERY SELECT 'link_created', NULL::json;
END
$$;

INSERT INTO schema_version (version) VALUES (4) ON CONFLICT (one_row) DO UPDATE SET version = excluded.version;
