import {
  createPublicTenant,
  type CreatePublicTenantInput,
} from '../../services/public-tenant.service.js';
import {
  booleanOption,
  jsonObjectOption,
  optionalString,
  requiredString,
  serviceCommand,
} from './command.js';
import { NO_INPUT_OPTION, passwordEnvOption, readPassword } from './password.js';
import {
  describeUser,
  loadTenantView,
  loadUserView,
  type TenantView,
  type UserView,
} from './views.js';

interface PublicTenantCreated {
  tenant: TenantView;
  domain: { domain: string; isPrimary: boolean; metadata: Record<string, unknown> };
  owner: UserView;
}

export const createPublicTenantCommand = serviceCommand<
  CreatePublicTenantInput,
  PublicTenantCreated
>({
  name: 'create-public-tenant',
  summary: 'Create the public tenant (schema "public"), its primary domain and its owner.',
  description:
    'Creates the public tenant, whose schema is "public", with its primary domain and its ' +
    'owner in one transaction, so a failure leaves nothing behind. The owner is a new, ' +
    'verified user; staff and superuser in the public tenant make them a platform admin. ' +
    'The public tenant exists once: a second run fails with ALREADY_EXISTS and creates ' +
    'nothing.\n\n' +
    'Use it before the first `npm start`, which otherwise creates the public tenant from ' +
    'TENANT_USERS_PUBLIC_DOMAIN and TENANT_USERS_ADMIN_EMAIL.',
  options: [
    {
      name: 'domain',
      kind: 'string',
      valueName: 'DOMAIN',
      required: true,
      description:
        'Primary domain of the public tenant, a lowercase host name such as "example.com".',
    },
    {
      name: 'owner-email',
      kind: 'string',
      valueName: 'EMAIL',
      required: true,
      description: 'Email of the owner, a new user.',
    },
    passwordEnvOption('owner-password-env', "the owner's"),
    NO_INPUT_OPTION,
    {
      name: 'name',
      kind: 'string',
      valueName: 'NAME',
      description: 'Display name of the public tenant. Default: "Public".',
    },
    {
      name: 'owner-staff',
      kind: 'switch',
      description: 'Make the owner staff of the public tenant (platform staff). Default: on.',
    },
    {
      name: 'owner-superuser',
      kind: 'switch',
      description: 'Make the owner superuser of the public tenant (platform admin). Default: on.',
    },
    {
      name: 'metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the tenant, a JSON object.',
    },
    {
      name: 'owner-metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the owner, a JSON object.',
    },
    {
      name: 'domain-metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the domain, a JSON object.',
    },
  ],

  async parse(values, io) {
    return {
      domain: requiredString(values, 'domain'),
      ownerEmail: requiredString(values, 'owner-email'),
      ownerPassword: await readPassword(values, io, 'owner-password-env'),
      name: optionalString(values, 'name'),
      isStaff: booleanOption(values, 'owner-staff'),
      isSuperuser: booleanOption(values, 'owner-superuser'),
      metadata: jsonObjectOption(values, 'metadata'),
      ownerMetadata: jsonObjectOption(values, 'owner-metadata'),
      domainMetadata: jsonObjectOption(values, 'domain-metadata'),
    };
  },

  async run(ctx, input) {
    const { tenant, owner, domain } = await createPublicTenant(ctx, input);

    return {
      tenant: await loadTenantView(ctx.em, tenant),
      domain: { domain: domain.domain, isPrimary: domain.isPrimary, metadata: domain.metadata },
      owner: await loadUserView(ctx.em, owner),
    };
  },

  render({ tenant, domain, owner }) {
    return [
      `Created the public tenant "${tenant.name}".`,
      `  schema: ${tenant.schemaName}`,
      `  domain: ${domain.domain}${domain.isPrimary ? ' (primary)' : ''}`,
      `  owner:  ${owner.email} (${describeUser(owner)})`,
    ].join('\n');
  },
});
