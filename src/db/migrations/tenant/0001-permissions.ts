import { quoteLiteral } from '../../sql.js';
import type { Migration } from '../types.js';

/** Permissions every tenant schema starts with, as Django-style `app_label.codename`. */
export const SEEDED_PERMISSIONS: ReadonlyArray<[appLabel: string, codename: string, name: string]> =
  [
    ['tenant_users', 'view_member', 'Can view members'],
    ['tenant_users', 'add_member', 'Can add members'],
    ['tenant_users', 'change_member', 'Can change members'],
    ['tenant_users', 'remove_member', 'Can remove members'],
    ['tenant_users', 'view_group', 'Can view groups'],
    ['tenant_users', 'change_group', 'Can change groups'],
  ];

/**
 * Returns the SQL of the permission tables. Migration 0001 created them with a foreign key from
 * `user_tenant_permissions.user_id` to `public.users`, which migration 0002 drops again.
 */
export function permissionTablesSql(schema: string, options: { userForeignKey: boolean }): string {
  const userReference = options.userForeignKey ? ' references public.users (id)' : '';

  return `
    create table ${schema}.permissions (
      id uuid primary key default gen_random_uuid(),
      app_label text not null,
      codename text not null,
      name text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (app_label, codename)
    );

    create table ${schema}.groups (
      id uuid primary key default gen_random_uuid(),
      name text not null unique,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table ${schema}.group_permissions (
      group_id uuid not null references ${schema}.groups (id) on delete cascade,
      permission_id uuid not null references ${schema}.permissions (id) on delete cascade,
      created_at timestamptz not null default now(),
      primary key (group_id, permission_id)
    );

    create table ${schema}.user_tenant_permissions (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null unique${userReference},
      is_staff boolean not null default false,
      is_superuser boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table ${schema}.user_tenant_permissions_groups (
      user_permissions_id uuid not null
        references ${schema}.user_tenant_permissions (id) on delete cascade,
      group_id uuid not null references ${schema}.groups (id) on delete cascade,
      created_at timestamptz not null default now(),
      primary key (user_permissions_id, group_id)
    );

    create table ${schema}.user_tenant_permissions_permissions (
      user_permissions_id uuid not null
        references ${schema}.user_tenant_permissions (id) on delete cascade,
      permission_id uuid not null references ${schema}.permissions (id) on delete cascade,
      created_at timestamptz not null default now(),
      primary key (user_permissions_id, permission_id)
    );

    insert into ${schema}.permissions (app_label, codename, name) values
      ${SEEDED_PERMISSIONS.map((row) => `(${row.map(quoteLiteral).join(', ')})`).join(',\n      ')};
  `;
}

export const tenantPermissionTables: Migration = {
  name: '0001-permissions',
  up: (schema) => permissionTablesSql(schema, { userForeignKey: true }),
};
