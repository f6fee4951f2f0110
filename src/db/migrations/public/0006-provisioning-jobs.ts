import type { Migration } from '../types.js';

/**
 * Queue of tenants whose schema is still to be created (`provisionTenant` with `wait: false`).
 * A row exists only while its tenant is `PROVISIONING`. Every insert notifies the channel
 * `tenant_users_provisioning` at commit, so idle workers start at once instead of at their next
 * poll. `run_at` is the earliest time a worker may claim the row: a claim moves it forward by
 * the retry delay, so a worker that dies mid-job leaves the row claimable again after that delay.
 */
export const provisioningJobs: Migration = {
  name: '0006-provisioning-jobs',
  up: () => `
    create table public.provisioning_jobs (
      id bigint generated always as identity primary key,
      tenant_id uuid not null references public.tenants (id) on delete cascade,
      plan jsonb not null,
      attempts integer not null default 0,
      max_attempts integer not null check (max_attempts > 0),
      run_at timestamptz not null default now(),
      last_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index provisioning_jobs_run_at_idx on public.provisioning_jobs (run_at);
    create index provisioning_jobs_tenant_id_idx on public.provisioning_jobs (tenant_id);

    create function public.notify_provisioning_job() returns trigger
    language plpgsql as $$
    begin
      perform pg_notify('tenant_users_provisioning', new.id::text);
      return null;
    end;
    $$;

    create trigger provisioning_jobs_notify
      after insert on public.provisioning_jobs
      for each row execute function public.notify_provisioning_job();
  `,
};
