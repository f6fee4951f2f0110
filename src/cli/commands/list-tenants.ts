import { Tenant } from '../../entities/index.js';
import { booleanOption, serviceCommand } from './command.js';
import { renderTable } from './output.js';
import { loadTenantViews, type TenantView } from './views.js';

export const listTenantsCommand = serviceCommand<
  { includeInactive: boolean },
  { tenants: TenantView[] }
>({
  name: 'list-tenants',
  summary: 'List the tenants, oldest first.',
  description:
    'Lists the active tenants, the public tenant included, oldest first, with their schema, ' +
    'type, status, owner and primary domain.',
  options: [
    {
      name: 'include-inactive',
      kind: 'flag',
      description: 'Also list deleted tenants.',
    },
  ],

  async parse(values) {
    return { includeInactive: booleanOption(values, 'include-inactive') === true };
  },

  async run(ctx, input) {
    // NOTE: every tenant is read at once, without pagination.
    const tenants = await ctx.em.find(Tenant, input.includeInactive ? {} : { isActive: true }, {
      orderBy: { createdAt: 'asc', id: 'asc' },
    });

    return { tenants: await loadTenantViews(ctx.em, tenants) };
  },

  render({ tenants }) {
    if (tenants.length === 0) {
      return 'No tenants.';
    }

    return renderTable(
      ['SLUG', 'NAME', 'SCHEMA', 'TYPE', 'STATUS', 'ACTIVE', 'OWNER', 'DOMAIN'],
      tenants.map((tenant) => [
        tenant.slug,
        tenant.name,
        tenant.schemaName,
        tenant.tenantType,
        tenant.status,
        tenant.isActive ? 'yes' : 'no',
        tenant.ownerEmail ?? '-',
        tenant.primaryDomain ?? '-',
      ]),
    );
  },
});
