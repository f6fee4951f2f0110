import type { Migration } from '../types.js';

export const initialPublicSchema: Migration = {
  name: '0001-initial',
  up: () => `
    create table public.users (
      id uuid primary key default gen_random_uuid(),
      email text not null,
      password_hash text,
      is_active boolean not null default true,
      is_verified boolean not null default false,
      metadata jsonb not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz
    );
    create unique index users_email_lower_key on public.users (lower(email));

    create table public.tenants (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      slug text not null,
      schema_name text not null,
      tenant_type text not null,
      status text not null default 'ACTIVE'
        check (status in ('PROVISIONING', 'ACTIVE', 'FAILED')),
      is_active boolean not null default true,
      owner_id uuid not null references public.users (id),
      metadata jsonb not null default '{}',
      provisioning_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz
    );
    create unique index tenants_slug_key on public.tenants (slug);
    create unique index tenants_schema_name_lower_key on public.tenants (lower(schema_name));
    create index tenants_owner_id_idx on public.tenants (owner_id);

    create table public.domains (
      id uuid primary key default gen_random_uuid(),
      domain text not null,
      tenant_id uuid not null references public.tenants (id) on delete cascade,
      is_primary boolean not null default false,
      is_active boolean not null default true,
      metadata jsonb not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index domains_domain_key on public.domains (domain);
    create unique index domains_one_primary_per_tenant on public.domains (tenant_id) where is_primary;

    create table public.memberships (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references public.users (id),
      tenant_id uuid not null references public.tenants (id) on delete cascade,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index memberships_tenant_user_key on public.memberships (tenant_id, user_id);
    create index memberships_user_id_idx on public.memberships (user_id);

    create table public.sessions (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references public.users (id),
      token_hash text not null,
      expires_at timestamptz not null,
      revoked_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index sessions_token_hash_key on public.sessions (token_hash);
    create index sessions_user_id_idx on public.sessions (user_id);

    create table public.audit_events (
      id bigint generated always as identity primary key,
      type text not null,
      tenant_id uuid,
      user_id uuid,
      actor_id uuid,
      payload jsonb not null default '{}',
      created_at timestamptz not null default now()
    );
    create index audit_events_tenant_id_idx on public.audit_events (tenant_id, id);
  `,
};
