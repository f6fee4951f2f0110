import bcrypt from 'bcrypt';

import { badInput } from '../errors.js';

/** Maximum bytes of a password: bcrypt ignores every byte after the 72nd. */
export const PASSWORD_MAX_BYTES = 72;

/** Calls made to bcrypt since the hasher was built; tests read them to count the work done. */
export interface HasherCounters {
  hashes: number;
  comparisons: number;
  /** Comparisons against a hash made at the configured cost. */
  comparisonsAtConfiguredCost: number;
}

/**
 * Checks the password policy: at least `minLength` characters (code points), at most 72 bytes
 * of UTF-8, and no NUL character. A longer password is rejected, never truncated. NUL is
 * rejected because bcrypt cycles the key with its terminating NUL, so `a` and `a\0a` would
 * hash alike.
 */
export function checkPasswordPolicy(password: string, minLength: number, field: string): void {
  if ([...password].length < minLength) {
    throw badInput(field, `The password must have at least ${minLength} characters.`);
  }
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) {
    throw badInput(field, `The password must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8.`);
  }
  if (password.includes('\u0000')) {
    throw badInput(field, 'The password must not contain the NUL character.');
  }
}

/**
 * Hashes and checks passwords with bcrypt at a fixed cost. `verify` does one bcrypt comparison
 * at the configured cost when there is no hash to check, or when the password could never have
 * been stored, so an unknown email costs as much time as a wrong password.
 */
export class PasswordHasher {
  readonly counters: HasherCounters = { hashes: 0, comparisons: 0, comparisonsAtConfiguredCost: 0 };
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly cost: number) {}

  hash(password: string): Promise<string> {
    this.counters.hashes += 1;

    return bcrypt.hash(password, this.cost);
  }

  /**
   * Compares a password with a stored hash. A null hash, a password over 72 bytes and a
   * password with a NUL character all compare against a dummy hash and return false. bcrypt
   * reads only part of such a password, so it could match a different stored one.
   */
  async verify(password: string, hash: string | null): Promise<boolean> {
    const comparable = Buffer.byteLength(password, 'utf8') <= PASSWORD_MAX_BYTES;
    const usable = hash !== null && comparable && !password.includes('\u0000');
    if (!usable) {
      // The dummy hash is made once, at the configured cost, without touching the counters.
      this.dummyHash ??= bcrypt.hash('no password is set for this account', this.cost);
      await this.compare(password, await this.dummyHash);
      return false;
    }

    // NOTE: a hash made at an older cost takes that cost's time to compare, unlike the dummy
    // hash, until a successful login rehashes it.
    return this.compare(password, hash);
  }

  /** True when `hash` was made at a cost other than the configured one, or is no bcrypt hash. */
  needsRehash(hash: string): boolean {
    try {
      return bcrypt.getRounds(hash) !== this.cost;
    } catch {
      return true;
    }
  }

  private compare(password: string, hash: string): Promise<boolean> {
    this.counters.comparisons += 1;
    if (!this.needsRehash(hash)) {
      this.counters.comparisonsAtConfiguredCost += 1;
    }

    return bcrypt.compare(password, hash);
  }
}
