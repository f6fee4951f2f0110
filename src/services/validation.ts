import type { Config } from '../config.js';
import { BUILT_IN_RESERVED_SLUGS } from '../config.js';
import { badInput } from '../errors.js';

/** Maximum bytes of a password: bcrypt ignores every byte after the 72nd. */
export const BCRYPT_MAX_BYTES = 72;

// The local part allows the characters the EmailAddress scalar of the API accepts, so every
// stored address can be returned.
const EMAIL = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[^\s@]{1,255}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Validates an email and lowercases its domain part. The local part keeps its case, but
 * uniqueness ignores case on the whole address (enforced by a unique index on `lower(email)`).
 */
export function normalizeEmail(raw: string | null | undefined, field = 'email'): string {
  const email = (raw ?? '').trim();
  if (email === '') {
    throw badInput(field, 'An email address is required.');
  }
  if (!EMAIL.test(email)) {
    throw badInput(field, `"${email}" is not a valid email address.`);
  }

  const at = email.lastIndexOf('@');
  const domain = email.slice(at + 1).toLowerCase();
  if (!domain.split('.').every((label) => DOMAIN_LABEL.test(label))) {
    throw badInput(field, `"${email}" is not a valid email address.`);
  }

  return `${email.slice(0, at)}@${domain}`;
}

/** Checks the password policy: a minimum length in characters and at most 72 bytes of UTF-8. */
export function validatePassword(password: string, config: Config, field = 'password'): void {
  if ([...password].length < config.passwordMinLength) {
    throw badInput(
      field,
      `The password must have at least ${config.passwordMinLength} characters.`,
    );
  }
  if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) {
    throw badInput(field, `The password must be at most ${BCRYPT_MAX_BYTES} bytes in UTF-8.`);
  }
  // bcrypt stops at a NUL byte, so "p" and "p\0q" would hash alike.
  if (password.includes('\u0000')) {
    throw badInput(field, 'The password must not contain the NUL character.');
  }
}

/** Checks that a slug is a lowercase DNS label and not reserved. */
export function validateSlug(slug: string, config: Config): void {
  if (!DNS_LABEL.test(slug)) {
    throw badInput(
      'slug',
      `The slug "${slug}" must be 1 to 63 characters of a-z, 0-9 and "-", ` +
        'not starting or ending with "-".',
    );
  }

  // The configured list is compared in lowercase because overrides reach this module unchanged,
  // and only the environment reader lowercases it.
  const configured = config.reservedSlugs.map((reserved) => reserved.trim().toLowerCase());
  const reserved = new Set<string>([...BUILT_IN_RESERVED_SLUGS, ...configured]);
  if (reserved.has(slug)) {
    throw badInput('slug', `The slug "${slug}" is reserved.`);
  }
}

/** Checks a schema name given by the caller; the database check for existence comes later. */
export function validateSchemaName(name: string): void {
  const lower = name.toLowerCase();
  if (
    !SCHEMA_NAME.test(name) ||
    lower.startsWith('pg_') ||
    ['public', 'information_schema'].includes(lower)
  ) {
    throw badInput(
      'schemaName',
      `The schema name "${name}" must match ^[a-z_][a-z0-9_]{0,62}$, must not start with ` +
        '"pg_" and must not be "public" or "information_schema".',
    );
  }
}

/** Checks a tenant's display name. */
export function validateTenantName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '' || trimmed.length > 200) {
    throw badInput('name', 'The tenant name must have 1 to 200 characters.');
  }

  return trimmed;
}
