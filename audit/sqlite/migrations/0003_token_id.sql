-- The identifier (jti) of the bearer token a call was made with: which
-- token, never the token itself.
ALTER TABLE events ADD COLUMN token_id TEXT NOT NULL DEFAULT '';
