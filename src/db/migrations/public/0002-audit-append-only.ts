import type { Migration } from '../types.js';

/**
 * Makes `public.audit_events` append-only in the database itself: a trigger rejects every
 * UPDATE, DELETE and TRUNCATE, whoever sends it. A database owner can still drop or disable the
 * trigger, so this guards against mistakes and stray SQL, not against an administrator.
 */
export const auditAppendOnly: Migration = {
  name: '0002-audit-append-only',
  up: () => `
    create function public.reject_audit_event_change() returns trigger
    language plpgsql as $$
    begin
      raise exception 'public.audit_events is append-only; % is not allowed', tg_op
        using errcode = 'restrict_violation';
    end;
    $$;

    create trigger audit_events_append_only
      before update or delete on public.audit_events
      for each row execute function public.reject_audit_event_change();

    create trigger audit_events_no_truncate
      before truncate on public.audit_events
      for each statement execute function public.reject_audit_event_change();
  `,
};
