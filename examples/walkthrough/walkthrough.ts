/**
 * The django-tenant-users usage guide, done over HTTP against a running tenant-users server:
 * create an owner, provision the tenant `evilcorp` for them, add a second user, list the members
 * on the tenant's own host, then soft-delete the user and the tenant.
 *
 * Run it with `npx tsx examples/walkthrough/walkthrough.ts --help` for the options.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { GraphqlClient, type GraphqlError } from './graphql-client.js';

export const TENANT_SLUG = 'evilcorp';
export const OWNER_EMAIL = 'admin@evilcorp.com';
export const USER_EMAIL = 'user@evilcorp.com';

export interface WalkthroughOptions {
  /** Base URL of the server, such as `http://localhost:4000`. */
  url: string;
  adminEmail: string;
  adminPassword: string;
  /** Parent domain of tenant domains (TENANT_USERS_DOMAIN): evilcorp is `evilcorp.<domain>`. */
  domain: string;
  /** Domain of the public tenant (TENANT_USERS_PUBLIC_DOMAIN), where the platform admin works. */
  publicDomain: string;
  /** Receives each step's printed lines. Without it, nothing is printed. */
  print?: (text: string) => void;
}

export interface StepResult {
  name: string;
  description: string;
  /** Host header the step was sent with. */
  host: string;
  /** The operation's `data`, or for the last step the HTTP status and error code it got. */
  data: unknown;
}

/** A step that failed, with the GraphQL error code when the server returned one. */
export class WalkthroughError extends Error {
  constructor(
    readonly step: string,
    readonly code: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'WalkthroughError';
  }
}

const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token expiresAt user { email } }
}`;

const FIND_TENANT = `query FindTenant($slug: String!) { tenant(slug: $slug) { slug isActive } }`;

const CREATE_USER = `mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) { email isActive }
}`;

const PROVISION_TENANT = `mutation ProvisionTenant($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) {
    name slug schemaName status isActive primaryDomain { domain } owner { email }
  }
}`;

const ADD_USER_TO_TENANT = `mutation AddUserToTenant($input: AddUserToTenantInput!) {
  addUserToTenant(input: $input) { user { email } tenant { slug } isStaff isSuperuser }
}`;

const LIST_MEMBERS = `query ListMembers {
  currentTenant {
    slug
    members { totalCount edges { node { user { email } isStaff isSuperuser } } }
  }
}`;

const DELETE_USER = `mutation DeleteUser($email: String!) {
  deleteUser(email: $email) { email isActive deletedAt }
}`;

const DELETE_TENANT = `mutation DeleteTenant($tenant: String!) {
  deleteTenant(tenant: $tenant) { slug isActive deletedAt owner { email } }
}`;

const CURRENT_TENANT = `query CurrentTenant { currentTenant { slug } }`;

interface StepRequest {
  query: string;
  variables?: Record<string, unknown>;
  host: string;
  token?: string;
}

/**
 * Runs every step in order and returns their results. Throws `WalkthroughError` at the first
 * failure, and before any change when the tenant evilcorp is already active.
 */
export async function runWalkthrough(options: WalkthroughOptions): Promise<StepResult[]> {
  const walkthrough = new Walkthrough(options);

  await walkthrough.createTenantAndUsers();
  await walkthrough.listMembersAsOwner();
  await walkthrough.deleteUserAndTenant();

  return walkthrough.results;
}

class Walkthrough {
  readonly results: StepResult[] = [];
  private readonly client: GraphqlClient;
  private readonly publicHost: string;
  private readonly tenantHost: string;
  // Generated per run: the owner logs in once with it, and it is never printed.
  private readonly ownerPassword = randomBytes(18).toString('base64url');
  private adminToken = '';

  constructor(private readonly options: WalkthroughOptions) {
    this.client = new GraphqlClient(options.url);
    this.publicHost = options.publicDomain;
    this.tenantHost = `${TENANT_SLUG}.${options.domain}`;
  }

  async createTenantAndUsers(): Promise<void> {
    const { adminEmail, adminPassword } = this.options;
    this.adminToken = await this.logIn(adminEmail, adminPassword, this.publicHost);
    await this.requireTenantAbsent();

    await this.asAdmin('createOwner', `Create the user ${OWNER_EMAIL}`, CREATE_USER, {
      input: { email: OWNER_EMAIL, password: this.ownerPassword },
    });
    await this.asAdmin(
      'provisionTenant',
      `Provision the tenant EvilCorp (${TENANT_SLUG}) owned by ${OWNER_EMAIL}`,
      PROVISION_TENANT,
      { input: { name: 'EvilCorp', slug: TENANT_SLUG, ownerEmail: OWNER_EMAIL } },
    );
    await this.asAdmin('createUser', `Create the user ${USER_EMAIL}`, CREATE_USER, {
      input: { email: USER_EMAIL, password: randomBytes(18).toString('base64url') },
    });
    await this.asAdmin(
      'addUserToTenant',
      `Add ${USER_EMAIL} to ${TENANT_SLUG}`,
      ADD_USER_TO_TENANT,
      { input: { tenant: TENANT_SLUG, userEmail: USER_EMAIL } },
    );
  }

  async listMembersAsOwner(): Promise<void> {
    const ownerToken = await this.logIn(OWNER_EMAIL, this.ownerPassword, this.tenantHost);
    await this.step('listMembers', `List the members of ${TENANT_SLUG} as its owner`, {
      query: LIST_MEMBERS,
      host: this.tenantHost,
      token: ownerToken,
    });
  }

  async deleteUserAndTenant(): Promise<void> {
    await this.asAdmin('deleteUser', `Delete the user ${USER_EMAIL}`, DELETE_USER, {
      email: USER_EMAIL,
    });
    await this.asAdmin('deleteTenant', `Delete the tenant ${TENANT_SLUG}`, DELETE_TENANT, {
      tenant: TENANT_SLUG,
    });

    // The error code is the expected result here: a deleted tenant's domains stop routing.
    const response = await this.client.request({ query: CURRENT_TENANT, host: this.tenantHost });
    this.record({
      name: 'checkTenantHost',
      description: `Check that ${this.tenantHost} no longer routes to a tenant`,
      host: this.tenantHost,
      data: { status: response.status, code: response.errors?.[0]?.extensions?.code ?? null },
    });
  }

  /** Opens a session, records the step without the token and returns the token. */
  private async logIn(email: string, password: string, host: string): Promise<string> {
    const data = await send<{ login: { token: string; expiresAt: string; user: unknown } }>(
      this.client,
      'login',
      { query: LOGIN, variables: { email, password }, host },
    );
    const { token, ...visible } = data.login;
    this.record({ name: 'login', description: `Log in as ${email}`, host, data: visible });

    return token;
  }

  /**
   * Stops the run before any change when evilcorp is an active tenant. A soft-deleted evilcorp is
   * not visible to this query, and provisioning then fails with ALREADY_EXISTS.
   */
  private async requireTenantAbsent(): Promise<void> {
    const response = await this.client.request<{ tenant: unknown }>({
      query: FIND_TENANT,
      variables: { slug: TENANT_SLUG },
      host: this.publicHost,
      token: this.adminToken,
    });
    const error = response.errors?.[0];
    if (error?.extensions?.code === 'NOT_FOUND') {
      return;
    }
    if (error) {
      throw stepError('findTenant', error);
    }

    throw new WalkthroughError(
      'findTenant',
      'ALREADY_EXISTS',
      `The tenant "${TENANT_SLUG}" already exists on this server, so the walkthrough stopped ` +
        `before changing anything. ${FRESH_SERVER_HINT}`,
    );
  }

  private asAdmin<T>(
    name: string,
    description: string,
    query: string,
    variables: Record<string, unknown>,
  ): Promise<T> {
    return this.step(name, description, {
      query,
      variables,
      host: this.publicHost,
      token: this.adminToken,
    });
  }

  private async step<T>(name: string, description: string, request: StepRequest): Promise<T> {
    const data = await send<T>(this.client, name, request);
    this.record({ name, description, host: request.host, data });

    return data;
  }

  private record(result: StepResult): void {
    this.results.push(result);
    this.options.print?.(
      `[${this.results.length}] ${result.description} (Host: ${result.host})\n` +
        `${JSON.stringify(result.data, null, 2)}\n`,
    );
  }
}

const FRESH_SERVER_HINT =
  'Run the walkthrough against a server where it has not run yet, such as one started with an ' +
  'empty ./.data directory.';

/** Sends one step's operation and returns its data. Throws `WalkthroughError` on any error. */
async function send<T>(client: GraphqlClient, step: string, request: StepRequest): Promise<T> {
  let response;
  try {
    response = await client.request<T>(request);
  } catch (error) {
    throw new WalkthroughError(
      step,
      undefined,
      `${(error as Error).message}. Check that the server is running (\`npm start\`) at that URL.`,
      { cause: error },
    );
  }

  const error = response.errors?.[0];
  if (error) {
    throw stepError(step, error);
  }
  if (!response.data) {
    throw new WalkthroughError(step, undefined, `Step "${step}" returned no data.`);
  }

  return response.data;
}

function stepError(step: string, error: GraphqlError): WalkthroughError {
  const code = error.extensions?.code;
  let hint = '';
  if (code === 'ALREADY_EXISTS') {
    hint =
      ` The walkthrough creates ${OWNER_EMAIL}, ${USER_EMAIL} and the tenant "${TENANT_SLUG}" ` +
      `itself. ${FRESH_SERVER_HINT}`;
  } else if (code === 'TENANT_NOT_FOUND') {
    hint =
      ' Check that --public-domain and --domain match TENANT_USERS_PUBLIC_DOMAIN and ' +
      "TENANT_USERS_DOMAIN in the server's configuration.";
  } else if (code === 'UNAUTHENTICATED' && step === 'login') {
    hint = ' Check TENANT_USERS_ADMIN_EMAIL and TENANT_USERS_ADMIN_PASSWORD.';
  }

  return new WalkthroughError(
    step,
    code,
    `Step "${step}" failed with ${code ?? 'an error'}: ${error.message}${hint}`,
  );
}

const USAGE = `Usage: npx tsx examples/walkthrough/walkthrough.ts [options]

Runs the django-tenant-users usage guide against a running tenant-users server. It creates
${OWNER_EMAIL}, ${USER_EMAIL} and the tenant "${TENANT_SLUG}", so it runs once per database.

Options (each falls back to the environment variable named, then to the default):
  --url URL               server base URL (TENANT_USERS_URL; http://localhost:4000)
  --admin-email EMAIL     platform admin email (TENANT_USERS_ADMIN_EMAIL; admin@localhost)
  --domain DOMAIN         parent domain of tenant domains (TENANT_USERS_DOMAIN; localhost)
  --public-domain DOMAIN  domain of the public tenant (TENANT_USERS_PUBLIC_DOMAIN; localhost)
  --help                  print this text

The platform admin password comes from TENANT_USERS_ADMIN_PASSWORD only, so that it does not
appear in the process list. A .env file in the current directory is read as well.
`;

/** Reads the options from the command line and the environment, runs the walkthrough, prints. */
async function main(argv: string[]): Promise<void> {
  await import('dotenv/config');
  const { values } = parseCommandLine(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  const env = process.env;
  const adminPassword = env.TENANT_USERS_ADMIN_PASSWORD;
  if (!adminPassword) {
    throw new Error(
      "TENANT_USERS_ADMIN_PASSWORD is not set. Set it to the platform admin's password: the " +
        'value the server was started with, or the one `npm start` printed on its first start.',
    );
  }

  await runWalkthrough({
    url: values.url ?? env.TENANT_USERS_URL ?? 'http://localhost:4000',
    adminEmail: values['admin-email'] ?? env.TENANT_USERS_ADMIN_EMAIL ?? 'admin@localhost',
    adminPassword,
    domain: values.domain ?? env.TENANT_USERS_DOMAIN ?? 'localhost',
    publicDomain: values['public-domain'] ?? env.TENANT_USERS_PUBLIC_DOMAIN ?? 'localhost',
    print: (text) => process.stdout.write(text),
  });
  process.stdout.write('The walkthrough finished.\n');
}

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        'admin-email': { type: 'string' },
        domain: { type: 'string' },
        'public-domain': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}. Run with --help to list the options.`, {
      cause: error,
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
