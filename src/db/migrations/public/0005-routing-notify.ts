import type { Migration } from '../types.js';

/**
 * Announces every change to `public.domains` and `public.tenants` on the channel
 * `tenant_users_routing`, so that each server process evicts its cached routes. The payload is
 * the domain name (old and new when an update renames it) or the tenant id, and `*` after a
 * TRUNCATE. PostgreSQL delivers the notifications at commit and drops them on rollback.
 */
export const routingNotify: Migration = {
  name: '0005-routing-notify',
  up: () => `
    create function public.notify_routing_change() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'TRUNCATE' then
        perform pg_notify('tenant_users_routing', '*');
      elsif tg_table_name = 'domains' then
        if tg_op in ('UPDATE', 'DELETE') then
          perform pg_notify('tenant_users_routing', old.domain);
        end if;
        if tg_op in ('INSERT', 'UPDATE') then
          perform pg_notify('tenant_users_routing', new.domain);
        end if;
      elsif tg_op = 'DELETE' then
        perform pg_notify('tenant_users_routing', old.id::text);
      else
        perform pg_notify('tenant_users_routing', new.id::text);
      end if;

      return null;
    end;
    $$;

    create trigger domains_notify_routing
      after insert or update or delete on public.domains
      for each row execute function public.notify_routing_change();
    create trigger domains_notify_routing_truncate
      after truncate on public.domains
      for each statement execute function public.notify_routing_change();

    create trigger tenants_notify_routing
      after insert or update or delete on public.tenants
      for each row execute function public.notify_routing_change();
    create trigger tenants_notify_routing_truncate
      after truncate on public.tenants
      for each statement execute function public.notify_routing_change();
  `,
};
