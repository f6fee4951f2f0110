import { Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

/** A login session; only the SHA-256 hash of its bearer token is stored. */
@Entity({ tableName: 'sessions', schema: 'public' })
export class Session extends BaseEntity<'revokedAt'> {
  @Property({ type: 'uuid', fieldName: 'user_id' })
  userId!: string;

  @Property({ type: 'string', fieldName: 'token_hash', hidden: true })
  tokenHash!: string;

  @Property({ type: 'datetime', fieldName: 'expires_at' })
  expiresAt!: Date;

  @Property({ type: 'datetime', fieldName: 'revoked_at', nullable: true })
  revokedAt: Date | null = null;
}
