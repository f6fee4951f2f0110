import { provisionTenant, type ProvisionTenantInput } from '../../services/tenants.service.js';
import {
  booleanOption,
  jsonObjectOption,
  optionalString,
  requiredString,
  serviceCommand,
} from './command.js';
import { loadTenantView, type TenantView } from './views.js';

export const provisionTenantCommand = serviceCommand<ProvisionTenantInput, TenantView>({
  name: 'provision-tenant',
  summary: 'Create a tenant with its primary domain, schema, tables and owner.',
  description:
    'Creates a tenant in one transaction: the tenant row, the primary domain ' +
    '<slug>.<TENANT_USERS_DOMAIN> (the bare slug in subfolder mode), the schema with the ' +
    "tables of the tenant's type, and the owner's membership and permissions. A failure " +
    'leaves nothing behind. The owner must be an active user.',
  options: [
    {
      name: 'name',
      kind: 'string',
      valueName: 'NAME',
      required: true,
      description: 'Display name of the tenant.',
    },
    {
      name: 'slug',
      kind: 'string',
      valueName: 'SLUG',
      required: true,
      description:
        'Slug of the tenant, a DNS label: 1 to 63 characters of a-z, 0-9 and "-", not ' +
        'starting or ending with "-".',
    },
    {
      name: 'owner-email',
      kind: 'string',
      valueName: 'EMAIL',
      required: true,
      description: 'Email of the owner, an active user.',
    },
    {
      name: 'type',
      kind: 'string',
      valueName: 'TYPE',
      description: 'Tenant type, which decides the tables of the schema. Default: "default".',
    },
    {
      name: 'schema-name',
      kind: 'string',
      valueName: 'SCHEMA',
      description:
        'Schema name, matching ^[a-z_][a-z0-9_]{0,62}$. Default: derived from the slug with a ' +
        'random suffix.',
    },
    {
      name: 'owner-staff',
      kind: 'switch',
      description: 'Make the owner staff of the tenant. Default: off.',
    },
    {
      name: 'owner-superuser',
      kind: 'switch',
      description: 'Make the owner superuser of the tenant. Default: on.',
    },
    {
      name: 'metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the tenant, a JSON object.',
    },
    {
      name: 'domain-metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the primary domain, a JSON object.',
    },
  ],

  async parse(values) {
    return {
      name: requiredString(values, 'name'),
      slug: requiredString(values, 'slug'),
      ownerEmail: requiredString(values, 'owner-email'),
      tenantType: optionalString(values, 'type'),
      schemaName: optionalString(values, 'schema-name'),
      isStaff: booleanOption(values, 'owner-staff'),
      isSuperuser: booleanOption(values, 'owner-superuser'),
      metadata: jsonObjectOption(values, 'metadata'),
      domainMetadata: jsonObjectOption(values, 'domain-metadata'),
    };
  },

  async run(ctx, input) {
    const tenant = await provisionTenant(ctx, input);

    return loadTenantView(ctx.em, tenant);
  },

  render(tenant) {
    return [
      `Provisioned the tenant "${tenant.name}" (${tenant.slug}).`,
      `  schema: ${tenant.schemaName}`,
      `  type:   ${tenant.tenantType}`,
      `  domain: ${tenant.primaryDomain ?? '-'}`,
      `  owner:  ${tenant.ownerEmail ?? '-'}`,
    ].join('\n');
  },
});
