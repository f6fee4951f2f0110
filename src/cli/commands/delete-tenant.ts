import { deleteTenant } from '../../services/tenants.service.js';
import { requiredString, serviceCommand } from './command.js';
import { loadTenantView, type TenantView } from './views.js';

export const deleteTenantCommand = serviceCommand<{ slug: string }, TenantView>({
  name: 'delete-tenant',
  summary: 'Deactivate a tenant; its schema and data stay.',
  description:
    'Deletes a tenant softly, in one transaction: every member but the owner is removed, ' +
    "ownership moves to the public tenant's owner, the previous owner is removed, and the " +
    'tenant and its domains are deactivated so that they stop routing. The schema and all of ' +
    'its data stay. The public tenant cannot be deleted (PUBLIC_TENANT_PROTECTED).',
  options: [
    {
      name: 'slug',
      kind: 'string',
      valueName: 'SLUG',
      required: true,
      description: 'Slug of the tenant to delete.',
    },
  ],

  async parse(values) {
    return { slug: requiredString(values, 'slug') };
  },

  async run(ctx, input) {
    const tenant = await deleteTenant(ctx, input.slug);

    return loadTenantView(ctx.em, tenant);
  },

  render(tenant) {
    return (
      `Deleted the tenant "${tenant.name}" (${tenant.slug}). ` +
      `The schema ${tenant.schemaName} and its data stay.`
    );
  },
});
