import type { Migration } from '../types.js';

/**
 * Tables of the login defences, in `public` so that every server process shares them.
 *
 * `login_attempts` counts attempts per key in fixed windows: a key is the SHA-256 hash of an
 * email address or a client address, never the value itself. `single_use_tokens` holds the
 * SHA-256 hash of each email verification and password reset token, never the token.
 */
export const loginDefences: Migration = {
  name: '0004-login-defences',
  up: () => `
    create table public.login_attempts (
      scope text not null,
      key_hash text not null,
      attempts integer not null,
      window_started_at timestamptz not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (scope, key_hash)
    );
    create index login_attempts_window_started_at_idx on public.login_attempts (window_started_at);

    create table public.single_use_tokens (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references public.users (id),
      purpose text not null check (purpose in ('verify_email', 'reset_password')),
      token_hash text not null,
      expires_at timestamptz not null,
      used_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index single_use_tokens_token_hash_key on public.single_use_tokens (token_hash);
    create index single_use_tokens_user_id_idx on public.single_use_tokens (user_id, purpose);
  `,
};
