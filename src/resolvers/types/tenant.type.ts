import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeResolver, JSONObjectResolver } from 'graphql-scalars';

export enum TenantStatusEnum {
  PROVISIONING = 'PROVISIONING',
  ACTIVE = 'ACTIVE',
  FAILED = 'FAILED',
}

registerEnumType(TenantStatusEnum, {
  name: 'TenantStatus',
  description: 'Where a tenant is in its provisioning.',
});

@ObjectType('Tenant', { description: 'An organisation with its own PostgreSQL schema.' })
export class TenantType {
  @Field(() => ID, { description: 'Stable identifier.' })
  id!: string;

  @Field(() => String, { description: 'Display name.' })
  name!: string;

  @Field(() => String, { description: 'DNS label that names the tenant.' })
  slug!: string;

  @Field(() => String, { description: 'PostgreSQL schema holding the tenant data.' })
  schemaName!: string;

  @Field(() => String, { description: 'Tenant type, which decides the tables of its schema.' })
  tenantType!: string;

  @Field(() => TenantStatusEnum, { description: 'Provisioning status.' })
  status!: TenantStatusEnum;

  @Field(() => String, {
    nullable: true,
    description: 'Why provisioning failed, when the status is FAILED.',
  })
  provisioningError!: string | null;

  @Field(() => Boolean, { description: 'False once the tenant is deleted (soft deletion).' })
  isActive!: boolean;

  @Field(() => JSONObjectResolver, { description: 'Free-form data the application stores.' })
  metadata!: Record<string, unknown>;

  @Field(() => DateTimeResolver, { description: 'When the tenant was created.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'When the tenant was deleted; null while active.',
  })
  deletedAt!: Date | null;
}
