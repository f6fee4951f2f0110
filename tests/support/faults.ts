import type { TestApp } from './app.js';

/**
 * Makes every `user_tenant_permissions` table created from now on reject inserts with `message`,
 * a real database fault for the last step of provisioning. Returns a function that removes the
 * fault again; call it in `finally`.
 */
export async function blockOwnerPermissionInserts(
  t: Pick<TestApp, 'sql'>,
  message: string,
): Promise<() => Promise<void>> {
  const literal = message.replaceAll("'", "''");
  await t.sql(`
    create function public.reject_permission_insert() returns trigger
    language plpgsql as $$ begin raise exception '${literal}'; end $$;
    create function public.attach_permission_blocker() returns event_trigger
    language plpgsql as $$
    declare command record;
    begin
      for command in select * from pg_event_trigger_ddl_commands() loop
        if command.object_type = 'table'
           and command.object_identity like '%.user_tenant_permissions' then
          execute format(
            'create trigger reject_insert before insert on %s
             for each row execute function public.reject_permission_insert()',
            command.object_identity);
        end if;
      end loop;
    end $$;
    create event trigger attach_permission_blocker on ddl_command_end
      when tag in ('CREATE TABLE') execute function public.attach_permission_blocker();
  `);

  return async () => {
    await t.sql(`
      drop event trigger attach_permission_blocker;
      drop function public.attach_permission_blocker();
      drop function public.reject_permission_insert();
    `);
  };
}
