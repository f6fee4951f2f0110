import type { Migration } from '../types.js';

/** Bearer tokens for other programs; only the SHA-256 hash of each token is stored. */
export const serviceTokens: Migration = {
  name: '0003-service-tokens',
  up: () => `
    create table public.service_tokens (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      token_hash text not null,
      scopes text[] not null,
      tenant_ids uuid[],
      created_by_id uuid references public.users (id),
      last_used_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index service_tokens_token_hash_key on public.service_tokens (token_hash);
  `,
};
