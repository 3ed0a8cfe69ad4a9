-- The embeddable webhook portal: single-use links the render service hands its customers, and the
-- sessions they are exchanged for. Only SHA-256 hashes of their secret parts are stored (32 random
-- bytes each: a slow hash would add nothing); the ids name them in lists and logs.

-- A link is used once: `used_at` is set by the one exchange that succeeds, in the statement that
-- checks it is unset and unexpired.
create table webhooks.portal_links (
  id text primary key,
  org_id text not null,
  secret_hash text not null,
  capabilities text[] not null
    check (capabilities <@ array['manage_endpoints', 'replay', 'view_secrets']),
  session_seconds integer not null check (session_seconds between 60 and 3600),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  check (expires_at > created_at)
);
create index portal_links_expires on webhooks.portal_links (expires_at);

-- A session carries its link's org and capabilities; it ends at `expires_at` (an hour at most) or
-- when revoked, one by one or all of an org's at once.
create table webhooks.portal_sessions (
  id text primary key,
  org_id text not null,
  link_id text not null,
  secret_hash text not null,
  capabilities text[] not null
    check (capabilities <@ array['manage_endpoints', 'replay', 'view_secrets']),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  check (expires_at > created_at and expires_at <= created_at + interval '1 hour')
);
create index portal_sessions_org on webhooks.portal_sessions (org_id, id);
create index portal_sessions_expires on webhooks.portal_sessions (expires_at);
