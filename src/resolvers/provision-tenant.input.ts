import { Field, InputType } from 'type-graphql';
import { JSONObjectResolver } from 'graphql-scalars';

@InputType({ description: 'A tenant to provision.' })
export class ProvisionTenantInput {
  @Field(() => String, { description: 'Display name.' })
  name!: string;

  @Field(() => String, {
    description: 'Lowercase DNS label: 1 to 63 characters of a-z, 0-9 and "-".',
  })
  slug!: string;

  @Field(() => String, { description: 'Email of the owner, an active user.' })
  ownerEmail!: string;

  @Field(() => String, { nullable: true, description: 'Tenant type; the default type if null.' })
  tenantType?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Schema name; derived from the slug with a unique suffix if null.',
  })
  schemaName?: string | null;

  @Field(() => Boolean, { defaultValue: false, description: 'Make the owner staff of the tenant.' })
  isStaff!: boolean;

  @Field(() => Boolean, {
    defaultValue: true,
    description: 'Make the owner superuser of the tenant.',
  })
  isSuperuser!: boolean;

  @Field(() => JSONObjectResolver, { nullable: true, description: 'Free-form tenant data.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => JSONObjectResolver, {
    nullable: true,
    description: 'Free-form data of the primary domain.',
  })
  domainMetadata?: Record<string, unknown> | null;

  @Field(() => Boolean, {
    defaultValue: true,
    description:
      'Create the schema before returning. False returns a PROVISIONING tenant at once and a ' +
      'worker creates the schema, after which the tenant is ACTIVE, or FAILED with ' +
      'provisioningError.',
  })
  wait!: boolean;
}
