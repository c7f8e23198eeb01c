-- The whole SQLite schema, applied at every start. Every statement is idempotent; user_version
-- records which version this file describes so that later versions can migrate older files
-- (src/store/sqlite.ts).

-- One row per Slack identity. slack_org is the enterprise id on Enterprise Grid (user ids are
-- org-wide there) and the team id elsewhere; with slack_user_id it is the identity's key.
CREATE TABLE IF NOT EXISTS bindings (
  slack_org           TEXT NOT NULL,
  slack_user_id       TEXT NOT NULL,
  slack_team_id       TEXT NOT NULL,
  slack_enterprise_id TEXT,
  slack_user_name     TEXT NOT NULL,
  slack_team_domain   TEXT NOT NULL,
  internal_user       TEXT NOT NULL,
  created_at          INTEGER NOT NULL, -- ms since the epoch
  verified_by         TEXT,             -- email, code, confirm or slack (NULL: bound before it was recorded)
  last_used_at        INTEGER,          -- the last command, written at most once an hour
  PRIMARY KEY (slack_org, slack_user_id)
) WITHOUT ROWID;

-- One internal user may be bound from several workspaces; offboarding looks them up by name.
CREATE INDEX IF NOT EXISTS bindings_by_internal_user ON bindings (internal_user);
CREATE INDEX IF NOT EXISTS bindings_by_team ON bindings (slack_team_id);
-- Audit retention: a binding moved to its enterprise's key (a workspace joining a Grid organisation)
-- is explained by a linked row under its workspace's key, found by team and user.
CREATE INDEX IF NOT EXISTS bindings_by_team_user ON bindings (slack_team_id, slack_user_id);

-- Open association links. Only the SHA-256 of a nonce is kept: a copy of this file cannot be
-- turned into working links.
CREATE TABLE IF NOT EXISTS link_nonces (
  nonce_hash          BLOB NOT NULL PRIMARY KEY,
  slack_org           TEXT NOT NULL,
  slack_user_id       TEXT NOT NULL,
  slack_team_id       TEXT NOT NULL,
  slack_enterprise_id TEXT,
  slack_user_name     TEXT NOT NULL,
  slack_team_domain   TEXT NOT NULL,
  command             TEXT NOT NULL,    -- the slash command that made the link, e.g. /acct
  pending_text        TEXT,             -- a command to run once linked (never a subcommand)
  channel_id          TEXT,
  response_url        TEXT,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL
) WITHOUT ROWID;

-- One live link per Slack user: a new link replaces the old one.
CREATE UNIQUE INDEX IF NOT EXISTS link_nonces_one_per_user ON link_nonces (slack_org, slack_user_id);
CREATE INDEX IF NOT EXISTS link_nonces_by_expiry ON link_nonces (expires_at);

-- LINK_VERIFICATION=code: the link was confirmed in the browser by internal_user, and the binding
-- waits for the Slack user to type the code shown there. One per Slack user; the code is kept
-- only as an HMAC under a key derived from a secret that is not in this file.
CREATE TABLE IF NOT EXISTS pending_confirmations (
  slack_org           TEXT NOT NULL,
  slack_user_id       TEXT NOT NULL,
  slack_team_id       TEXT NOT NULL,
  slack_enterprise_id TEXT,
  slack_user_name     TEXT NOT NULL,
  slack_team_domain   TEXT NOT NULL,
  command             TEXT NOT NULL,
  pending_text        TEXT,
  channel_id          TEXT,
  response_url        TEXT,
  internal_user       TEXT NOT NULL,
  code_mac            BLOB NOT NULL,
  failed_attempts     INTEGER NOT NULL DEFAULT 0,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  PRIMARY KEY (slack_org, slack_user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_confirmations_by_expiry ON pending_confirmations (expires_at);

-- Who linked what, when and how: written in the same transaction as the change it records, never
-- updated, deleted only by retention. Never a nonce, a code, a token or a secret.
CREATE TABLE IF NOT EXISTS audit_events (
  seq            INTEGER PRIMARY KEY,       -- the order rows were written in
  id             TEXT NOT NULL UNIQUE,      -- random, so that copies (admin migrate) stay idempotent
  time           INTEGER NOT NULL,
  action         TEXT NOT NULL,
  reason         TEXT,
  slack_org      TEXT,
  slack_team_id  TEXT,
  slack_user_id  TEXT,
  internal_user  TEXT,
  actor          TEXT NOT NULL,
  request_id     TEXT,
  client_address TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events (time);
-- Also the link rate limit: link_created rows of one identity within the last minute.
CREATE INDEX IF NOT EXISTS audit_events_by_identity ON audit_events (slack_org, slack_user_id, time);
CREATE INDEX IF NOT EXISTS audit_events_by_internal_user ON audit_events (internal_user, time);
CREATE TRIGGER IF NOT EXISTS audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Slack Events API deliveries already handled, by event_id: a retry (also after a restart) does
-- its work once. Kept a day; Slack retries for about an hour.
CREATE TABLE IF NOT EXISTS slack_events_seen (
  event_id    TEXT NOT NULL PRIMARY KEY,
  received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS slack_events_seen_by_time ON slack_events_seen (received_at);

PRAGMA user_version = 3;
