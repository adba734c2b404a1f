-- How each caller authenticated (SPEC §14), the gateway's API keys, and users' own
-- upstream keys.
-- `auth`: 'jwt', 'api_key' or 'none'; `key_id`: the API key used. Both NULL in records
-- written before, and for unknown callers (their hashes never included them).
ALTER TABLE audit_log ADD COLUMN auth TEXT;
ALTER TABLE audit_log ADD COLUMN key_id TEXT;

-- API keys: only a SHA-256 digest of each key is kept. A key belongs to the user who made
-- it and carries a subset of that user's roles (a JSON list). Times are RFC 3339 UTC text.
CREATE TABLE api_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    subject     TEXT NOT NULL,
    roles       TEXT NOT NULL DEFAULT '[]',
    digest      TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);

CREATE INDEX api_keys_owner ON api_keys (owner, created_at);

-- Users' own upstream (Anthropic) keys, sealed with AES-256-GCM under
-- GATEWAY_ENCRYPTION_KEY: base64 of nonce, ciphertext and tag. One per user.
CREATE TABLE llm_keys (
    owner       TEXT NOT NULL PRIMARY KEY,
    sealed      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
