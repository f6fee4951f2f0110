import bcrypt from 'bcrypt';

/**
 * Hashes and checks passwords with bcrypt at a fixed cost. `verify` does the same bcrypt work
 * when there is no hash to check, so an unknown email costs as much time as a wrong password.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly cost: number) {}

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.cost);
  }

  async verify(password: string, hash: string | null): Promise<boolean> {
    if (hash === null) {
      this.dummyHash ??= bcrypt.hash('no password is set for this account', this.cost);
      await bcrypt.compare(password, await this.dummyHash);
      return false;
    }

    return bcrypt.compare(password, hash);
  }
}
