import { GraphQLError } from 'graphql';

/** Every error code the API returns in `extensions.code`, with the HTTP status it maps to. */
export const ERROR_CODES = {
  /** A value is invalid; `extensions.field` names it. */
  BAD_USER_INPUT: 400,
  /** The request itself is malformed: the host, the path or the body. */
  BAD_REQUEST: 400,
  /** No valid credentials where they are needed. */
  UNAUTHENTICATED: 401,
  /** Authenticated, but not allowed. */
  FORBIDDEN: 403,
  /** A user, tenant, domain or membership named in the request does not exist. */
  NOT_FOUND: 404,
  /** The host or path routes to no active tenant. */
  TENANT_NOT_FOUND: 404,
  /** The routed tenant is still provisioning, or its provisioning failed. */
  TENANT_NOT_READY: 503,
  /** An email, slug, domain, schema or membership is already taken. */
  ALREADY_EXISTS: 409,
  /** The user is deactivated. */
  INACTIVE_USER: 409,
  /** The operation would remove a tenant's owner. */
  OWNER_CANNOT_BE_REMOVED: 409,
  /** The operation would delete or purge the public tenant. */
  PUBLIC_TENANT_PROTECTED: 409,
  /** The operation would delete the public tenant's owner. */
  PUBLIC_OWNER_PROTECTED: 409,
  /** The tenant type is not configured. */
  INVALID_TENANT_TYPE: 400,
  /** A rate limit was hit. */
  TOO_MANY_REQUESTS: 429,
  /** Anything unexpected; the message is masked and the original is logged. */
  INTERNAL_SERVER_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every expected error; it carries a stable code and optional details. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { ...details, code } });
    this.code = code;
    this.name = 'AppError';
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }
}

export function badInput(field: string, message: string): AppError {
  return new AppError('BAD_USER_INPUT', message, { field });
}

export function notFound(what: string, value: string): AppError {
  return new AppError('NOT_FOUND', `${what} "${value}" was not found.`);
}

export function forbidden(message = 'You are not allowed to do this.'): AppError {
  return new AppError('FORBIDDEN', message);
}

export function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 'Log in or send a valid bearer token.');
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
