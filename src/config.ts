/**
 * The one place that reads the environment. Every other module receives a `Config` value.
 * `loadConfig` collects every problem before it fails, so an operator fixes them in one pass.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** PostgreSQL connection string; undefined starts the embedded server. */
  databaseUrl: string | undefined;
  /** Folder of the embedded PostgreSQL cluster. */
  dataDir: string;
  port: number;
  host: string;
  /** Parent domain of tenant domains: a tenant `acme` lives on `acme.<tenantDomain>`. */
  tenantDomain: string;
  publicDomain: string;
  adminEmail: string;
  /** Undefined means: generate a password on first start and print it once. */
  adminPassword: string | undefined;
  bcryptCost: number;
  /** Minimum password length in characters. */
  passwordMinLength: number;
  trustProxy: boolean;
  subfolderPrefix: string | undefined;
  showPublicIfNoTenantFound: boolean;
  /** Drop a leading `www.` from the Host header before the domain lookup. */
  stripWww: boolean;
  /** Slugs that can never name a tenant, on top of the built-in ones. */
  reservedSlugs: readonly string[];
  /** Lifetime of a login session, in seconds. */
  sessionTtlSeconds: number;
  /** Anyone may call createUser, which then makes an unverified user with no platform rights. */
  selfSignup: boolean;
  /** An active user may provision a tenant that they own themself. */
  selfServiceProvisioning: boolean;
  /** Provisioning needs an owner whose email address is verified. */
  requireVerifiedEmailToProvision: boolean;
  /** Failed logins allowed per email address within `loginWindowSeconds`. */
  loginMaxAttemptsPerEmail: number;
  /** Failed logins allowed per client address within `loginWindowSeconds`. */
  loginMaxAttemptsPerAddress: number;
  loginWindowSeconds: number;
  /** Lifetime of an email verification token, in seconds. */
  verificationTokenTtlSeconds: number;
  /** Lifetime of a password reset token, in seconds. */
  passwordResetTokenTtlSeconds: number;
  /** SMTP server URL such as `smtp://user:pass@host:587`; undefined keeps mail in an outbox. */
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Base URL that links in emails point to. */
  publicUrl: string;
  /** Maximum nesting depth of a GraphQL operation. */
  maxQueryDepth: number;
  /** Maximum complexity score of a GraphQL operation (one point a field, lists count more). */
  maxQueryComplexity: number;
  /** Maximum size of a request body, in bytes. */
  maxBodyBytes: number;
  introspection: boolean;
  graphiql: boolean;
  /** Connection for LISTEN; it must be direct or session-pooled, never transaction-pooled. */
  listenDatabaseUrl: string | undefined;
  /** Domains kept in each process's routing cache; 0 looks every request up. */
  routingCacheSize: number;
  routingCacheTtlSeconds: number;
  /** Maximum pooled database connections. */
  poolMax: number;
  /** Acquisitions after which a pooled connection is replaced; 0 turns the limit off. */
  poolMaxUses: number;
  /** Age in seconds after which a pooled connection is replaced; 0 turns the limit off. */
  poolMaxAgeSeconds: number;
  /** Run the provisioning worker inside the server process. */
  worker: boolean;
  /** Attempts of a queued provisioning before its tenant turns `FAILED`. */
  provisioningMaxAttempts: number;
  /** Delay in ms before the second attempt of a queued provisioning, doubled for each later one. */
  provisioningRetryDelayMs: number;
  logLevel: LogLevel;
}

export const BUILT_IN_RESERVED_SLUGS = ['www', 'public', 'api', 'admin'] as const;

const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n- ${problems.join('\n- ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads and validates the configuration from `env`; `overrides` win over the environment, which
 * lets tests and embedding applications pass values explicitly.
 */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];
  const reader = new EnvReader(env, problems);

  const config: Config = {
    databaseUrl: reader.optionalString('DATABASE_URL'),
    dataDir: reader.string('TENANT_USERS_DATA_DIR', './.data'),
    port: reader.integer('PORT', 4000, 0, 65535),
    host: reader.string('HOST', '127.0.0.1'),
    tenantDomain: reader.hostName('TENANT_USERS_DOMAIN', 'localhost'),
    publicDomain: reader.hostName('TENANT_USERS_PUBLIC_DOMAIN', 'localhost'),
    adminEmail: reader.string('TENANT_USERS_ADMIN_EMAIL', 'admin@localhost'),
    adminPassword: reader.optionalString('TENANT_USERS_ADMIN_PASSWORD'),
    bcryptCost: reader.integer('TENANT_USERS_BCRYPT_COST', 12, 4, 31),
    passwordMinLength: reader.integer('TENANT_USERS_PASSWORD_MIN_LENGTH', 8, 1, 72),
    trustProxy: reader.boolean('TENANT_USERS_TRUST_PROXY', false),
    subfolderPrefix: reader.optionalString('TENANT_USERS_SUBFOLDER_PREFIX'),
    showPublicIfNoTenantFound: reader.boolean('TENANT_USERS_SHOW_PUBLIC_IF_NO_TENANT_FOUND', false),
    stripWww: reader.boolean('TENANT_USERS_STRIP_WWW', true),
    reservedSlugs: reader.list('TENANT_USERS_RESERVED_SLUGS'),
    sessionTtlSeconds: reader.integer('TENANT_USERS_SESSION_TTL_SECONDS', 86_400, 60, 31_536_000),
    selfSignup: reader.boolean('TENANT_USERS_SELF_SIGNUP', false),
    selfServiceProvisioning: reader.boolean('TENANT_USERS_SELF_SERVICE_PROVISIONING', true),
    requireVerifiedEmailToProvision: reader.boolean('TENANT_USERS_REQUIRE_VERIFIED_EMAIL', false),
    loginMaxAttemptsPerEmail: reader.integer('TENANT_USERS_LOGIN_MAX_ATTEMPTS', 5, 1, 1000),
    loginMaxAttemptsPerAddress: reader.integer(
      'TENANT_USERS_LOGIN_MAX_ATTEMPTS_PER_ADDRESS',
      50,
      1,
      100_000,
    ),
    loginWindowSeconds: reader.integer('TENANT_USERS_LOGIN_WINDOW_SECONDS', 900, 1, 86_400),
    verificationTokenTtlSeconds: reader.integer(
      'TENANT_USERS_VERIFICATION_TOKEN_TTL_SECONDS',
      172_800,
      60,
      2_592_000,
    ),
    passwordResetTokenTtlSeconds: reader.integer(
      'TENANT_USERS_PASSWORD_RESET_TOKEN_TTL_SECONDS',
      3_600,
      60,
      604_800,
    ),
    smtpUrl: reader.optionalString('SMTP_URL'),
    mailFrom: reader.string('TENANT_USERS_MAIL_FROM', 'tenant-users@localhost'),
    publicUrl: reader.string('TENANT_USERS_PUBLIC_URL', 'http://localhost:4000'),
    maxQueryDepth: reader.integer('TENANT_USERS_MAX_QUERY_DEPTH', 12, 1, 100),
    maxQueryComplexity: reader.integer('TENANT_USERS_MAX_QUERY_COMPLEXITY', 2_000, 1, 1_000_000),
    maxBodyBytes: reader.integer('TENANT_USERS_MAX_BODY_BYTES', 1_048_576, 1_024, 104_857_600),
    introspection: reader.boolean('TENANT_USERS_INTROSPECTION', true),
    graphiql: reader.boolean('TENANT_USERS_GRAPHIQL', true),
    listenDatabaseUrl: reader.optionalString('TENANT_USERS_LISTEN_DATABASE_URL'),
    routingCacheSize: reader.integer('TENANT_USERS_ROUTING_CACHE_SIZE', 10_000, 0, 1_000_000),
    routingCacheTtlSeconds: reader.integer('TENANT_USERS_ROUTING_CACHE_TTL_SECONDS', 60, 1, 86_400),
    poolMax: reader.integer('TENANT_USERS_POOL_MAX', 10, 1, 1_000),
    poolMaxUses: reader.integer('TENANT_USERS_POOL_MAX_USES', 1_000, 0, 1_000_000_000),
    poolMaxAgeSeconds: reader.integer('TENANT_USERS_POOL_MAX_AGE_SECONDS', 3_600, 0, 604_800),
    worker: reader.boolean('TENANT_USERS_WORKER', true),
    provisioningMaxAttempts: reader.integer('TENANT_USERS_PROVISIONING_MAX_ATTEMPTS', 3, 1, 100),
    provisioningRetryDelayMs: reader.integer(
      'TENANT_USERS_PROVISIONING_RETRY_DELAY_MS',
      1_000,
      10,
      3_600_000,
    ),
    logLevel: reader.logLevel('LOG_LEVEL', 'info'),
    ...overrides,
  };

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }

  return Object.freeze(config);
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  optionalString(name: string): string | undefined {
    const value = this.env[name]?.trim();

    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.optionalString(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optionalString(name);
    if (raw === undefined) {
      return fallback;
    }

    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }

    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.optionalString(name)?.toLowerCase();
    if (raw === undefined) {
      return fallback;
    }
    if (['1', 'true', 'yes', 'on'].includes(raw)) {
      return true;
    }
    if (['0', 'false', 'no', 'off'].includes(raw)) {
      return false;
    }

    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  hostName(name: string, fallback: string): string {
    const value = this.string(name, fallback).toLowerCase();
    if (!HOST_NAME.test(value)) {
      this.problems.push(`${name} must be a host name such as "example.com", got "${value}"`);
    }

    return value;
  }

  list(name: string): string[] {
    const raw = this.optionalString(name);

    return raw === undefined
      ? []
      : raw
          .split(',')
          .map((item) => item.trim().toLowerCase())
          .filter(Boolean);
  }

  logLevel(name: string, fallback: LogLevel): LogLevel {
    const raw = this.string(name, fallback).toLowerCase();
    if (!LOG_LEVELS.includes(raw as LogLevel)) {
      this.problems.push(`${name} must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
      return fallback;
    }

    return raw as LogLevel;
  }
}
