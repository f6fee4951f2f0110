import { Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

@Entity({ tableName: 'users', schema: 'public' })
export class User extends BaseEntity<'isActive' | 'isVerified' | 'metadata' | 'deletedAt'> {
  /** Stored with the domain part lowercased; unique without regard to case. */
  @Property({ type: 'string' })
  email!: string;

  /** bcrypt hash; null means the account cannot log in until a password is set. */
  @Property({ type: 'string', fieldName: 'password_hash', nullable: true, hidden: true })
  passwordHash: string | null = null;

  @Property({ type: 'boolean', fieldName: 'is_active' })
  isActive: boolean = true;

  @Property({ type: 'boolean', fieldName: 'is_verified' })
  isVerified: boolean = false;

  @Property({ type: 'json' })
  metadata: Record<string, unknown> = {};

  @Property({ type: 'datetime', fieldName: 'deleted_at', nullable: true })
  deletedAt: Date | null = null;
}
