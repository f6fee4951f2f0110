import type { EntityManager } from '@mikro-orm/postgresql';

import { Tenant } from '../entities/index.js';
import { AppError, isAppError } from '../errors.js';
import { DUPLICATE_SCHEMA, UNIQUE_VIOLATION } from '../db/driver-errors.js';
import type { InstallStep } from '../db/migrations/types.js';
import {
  freeSchemaCheckSql,
  primaryDomainSql,
  tenantSchemaWithOwnerSql,
  type PrimaryDomain,
} from '../db/provisioning-sql.js';
import { quoteLiteral, runSql } from '../db/sql.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import { provisioningStepsOf } from './tenant-types.js';

/** Channel on which `public.provisioning_jobs` announces each new job at commit. */
export const PROVISIONING_CHANNEL = 'tenant_users_provisioning';

/** Work of a job besides creating the schema: the owner's membership and tenant permissions. */
export interface ProvisioningPlan {
  ownerId: string;
  isStaff: boolean;
  isSuperuser: boolean;
  /** The user who requested the tenant, for the audit log, or null for the system or a token. */
  actorId: string | null;
}

/** A job claimed by a worker. `attempts` counts this attempt. */
export interface ClaimedJob {
  id: string;
  tenantId: string;
  plan: ProvisioningPlan;
  attempts: number;
  maxAttempts: number;
}

/** Outcome of one run of a claimed job. */
export type JobOutcome = 'provisioned' | 'skipped' | 'busy' | 'retry' | 'failed';

/**
 * Creates the tenant's schema with the tables of its type, the owner's membership and the
 * owner's tenant permissions in one round trip, after inserting `domain` when given. Throws
 * `ALREADY_EXISTS` when the schema name or the domain is taken.
 */
export async function installTenantSchema(
  tx: EntityManager,
  tenant: Tenant,
  plan: Pick<ProvisioningPlan, 'ownerId' | 'isStaff' | 'isSuperuser'>,
  options: { steps?: readonly InstallStep[]; domain?: PrimaryDomain } = {},
): Promise<void> {
  const steps = options.steps ?? provisioningStepsOf(tx, tenant.tenantType);
  await runProvisioningSql(tx, tenant.schemaName, options.domain, [
    freeSchemaCheckSql(tenant.schemaName),
    tenantSchemaWithOwnerSql(tenant.schemaName, steps, {
      tenantId: tenant.id,
      ownerId: plan.ownerId,
      isStaff: plan.isStaff,
      isSuperuser: plan.isSuperuser,
    }),
  ]);
}

/**
 * Queues the creation of a `PROVISIONING` tenant's schema, in the caller's transaction, so that
 * the job and the tenant row commit or roll back together, after inserting `domain`. The schema
 * name is checked now as well, so that a taken one is rejected before anything is queued.
 */
export async function enqueueProvisioning(
  tx: EntityManager,
  tenant: Tenant,
  plan: ProvisioningPlan,
  domain: PrimaryDomain,
  maxAttempts: number,
): Promise<void> {
  await runProvisioningSql(tx, tenant.schemaName, domain, [
    freeSchemaCheckSql(tenant.schemaName),
    'insert into public.provisioning_jobs (tenant_id, plan, max_attempts) values ' +
      `(${quoteLiteral(tenant.id)}::uuid, ${quoteLiteral(JSON.stringify(plan))}::jsonb, ` +
      `${Math.trunc(maxAttempts)});`,
  ]);
}

/**
 * Runs `statements` in one round trip, after inserting `domain` when given, and names a taken
 * schema or domain in the error.
 */
async function runProvisioningSql(
  tx: EntityManager,
  schemaName: string,
  domain: PrimaryDomain | undefined,
  statements: readonly string[],
): Promise<void> {
  const batch = domain ? [primaryDomainSql(domain), ...statements] : statements;
  try {
    await runSql(tx, batch.join('\n'));
  } catch (error) {
    throw takenNameError(error, schemaName, domain?.domain) ?? error;
  }
}

function takenNameError(
  error: unknown,
  schemaName: string,
  domain: string | undefined,
): AppError | undefined {
  const { code, constraint } = error as { code?: string; constraint?: string };
  if (code === DUPLICATE_SCHEMA) {
    return new AppError(
      'ALREADY_EXISTS',
      `The schema "${schemaName}" already exists. Choose another schemaName, or omit it.`,
      {
        field: 'schemaName',
      },
    );
  }
  if (code === UNIQUE_VIOLATION && constraint === 'domains_domain_key') {
    return new AppError(
      'ALREADY_EXISTS',
      `The domain "${domain}" is already taken. Choose another slug.`,
      {
        field: 'slug',
      },
    );
  }

  return undefined;
}

interface JobRow {
  id: string;
  tenant_id: string;
  plan: ProvisioningPlan;
  attempts: number;
  max_attempts: number;
}

/**
 * Claims the oldest due job and commits the claim at once: the attempt is counted and `run_at`
 * moves `retryDelayMs * 2^(attempts - 1)` ahead, so a worker that dies mid-job neither loops on
 * the job nor loses it. Jobs that another worker runs are locked and skipped.
 */
export async function claimProvisioningJob(
  em: EntityManager,
  retryDelayMs: number,
): Promise<ClaimedJob | undefined> {
  const [row] = await runSql<JobRow>(
    em,
    `update public.provisioning_jobs
     set attempts = attempts + 1,
         run_at = now() + (? * power(2, attempts)) * interval '1 millisecond',
         updated_at = now()
     where id = (select id from public.provisioning_jobs where run_at <= now()
                 order by run_at, id limit 1 for update skip locked)
     returning id, tenant_id, plan, attempts, max_attempts`,
    [retryDelayMs],
  );
  if (!row) {
    return undefined;
  }

  return {
    id: String(row.id),
    tenantId: row.tenant_id,
    plan: row.plan,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
  };
}

/** Milliseconds until the next job is due, 0 when one is due now, undefined when none is queued. */
export async function nextJobDelay(em: EntityManager): Promise<number | undefined> {
  const [row] = await runSql<{ delay_ms: number | null }>(
    em,
    // greatest() skips nulls, so it is applied only when a job exists; otherwise the result is 0.
    `select case when min(run_at) is null then null
            else greatest(0, extract(epoch from min(run_at) - now()) * 1000)::float8 end as delay_ms
     from public.provisioning_jobs`,
  );

  return row?.delay_ms ?? undefined;
}

/**
 * Runs a claimed job: in one transaction, creates the schema, tables, membership and
 * permissions, sets the tenant `ACTIVE` and deletes the job. Running it again is harmless: a
 * job whose tenant is no longer `PROVISIONING` is deleted without other changes. On an error the
 * transaction rolls back, so no schema stays. The tenant turns `FAILED` after the last attempt,
 * or at once for an `AppError`, because no retry can fix a request error.
 */
export async function runProvisioningJob(
  ctx: ServiceContext,
  job: ClaimedJob,
): Promise<JobOutcome> {
  try {
    return await inTransaction(ctx, (tx, record) => provisionInJob(tx, job, record));
  } catch (error) {
    return recordFailure(ctx, job, error);
  }
}

async function provisionInJob(
  tx: EntityManager,
  job: ClaimedJob,
  record: Parameters<Parameters<typeof inTransaction>[1]>[1],
): Promise<JobOutcome> {
  // The row lock is held to the commit, so two workers never run one job at once.
  const locked = await runSql(
    tx,
    'select id from public.provisioning_jobs where id = ? for update skip locked',
    [job.id],
  );
  if (locked.length === 0) {
    return 'busy';
  }

  const tenant = await tx.findOne(Tenant, { id: job.tenantId }, { refresh: true });
  if (!tenant || tenant.status !== 'PROVISIONING') {
    await deleteJob(tx, job.id);
    return 'skipped';
  }

  await installTenantSchema(tx, tenant, job.plan);
  tenant.status = 'ACTIVE';
  tenant.provisioningError = null;
  await tx.flush();
  await deleteJob(tx, job.id);

  const domains = await runSql<{ domain: string }>(
    tx,
    'select domain from public.domains where tenant_id = ? and is_primary',
    [tenant.id],
  );
  record({
    type: 'tenantProvisioned',
    tenantId: tenant.id,
    userId: job.plan.ownerId,
    ...(job.plan.actorId ? { actorId: job.plan.actorId } : {}),
    payload: {
      slug: tenant.slug,
      schemaName: tenant.schemaName,
      tenantType: tenant.tenantType,
      domain: domains[0]?.domain ?? null,
    },
  });

  return 'provisioned';
}

/**
 * Records a failed attempt. A request error (`AppError`, such as a schema name taken meanwhile)
 * or the last attempt marks the tenant `FAILED` and deletes the job. Other errors stay on the
 * job as `last_error` for the next attempt.
 */
async function recordFailure(
  ctx: ServiceContext,
  job: ClaimedJob,
  error: unknown,
): Promise<JobOutcome> {
  const final = isAppError(error) || job.attempts >= job.maxAttempts;
  const detail = error instanceof Error ? error.message : String(error);
  ctx.logger.error(
    { err: error, jobId: job.id, tenantId: job.tenantId, attempt: job.attempts, final },
    final ? 'tenant provisioning failed' : 'tenant provisioning attempt failed; will retry',
  );

  if (!final) {
    await runSql(
      ctx.em,
      'update public.provisioning_jobs set last_error = ?, updated_at = now() where id = ?',
      [detail, job.id],
    );
    return 'retry';
  }

  // Only an AppError message is meant for callers; a database error may name internals.
  const reason = isAppError(error)
    ? error.message
    : `Provisioning failed after ${job.attempts} attempts because of an internal error; ` +
      'the server log has the details.';
  await ctx.em.transactional(async (tx) => {
    await runSql(
      tx,
      `update public.tenants set status = 'FAILED', provisioning_error = ?, updated_at = now()
       where id = ? and status = 'PROVISIONING'`,
      [reason, job.tenantId],
    );
    await deleteJob(tx, job.id);
  });

  return 'failed';
}

async function deleteJob(tx: EntityManager, jobId: string): Promise<void> {
  await runSql(tx, 'delete from public.provisioning_jobs where id = ?', [jobId]);
}
