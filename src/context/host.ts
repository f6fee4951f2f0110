import { AppError } from '../errors.js';

/** One label of a host name: 1 to 63 characters of a-z, 0-9 and `-`, no `-` at either end. */
export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_HOST_LENGTH = 253;
const MAX_PORT = 65535;

/**
 * Normalises a Host header value into the domain to look up: drops the port, lowercases,
 * drops one trailing dot and, when `stripWww` is on, one leading `www.`. A value that is not a
 * host name is `BAD_REQUEST`.
 */
export function normalizeHost(raw: string | undefined, stripWww: boolean): string {
  const value = raw?.trim() ?? '';
  if (value === '') {
    throw badHost('The Host header is missing.');
  }

  const host = dropTrailingDot(dropPort(value).toLowerCase());
  const labels = host.split('.');
  if (host.length > MAX_HOST_LENGTH || !labels.every((label) => DNS_LABEL.test(label))) {
    throw badHost(`The Host header "${value}" is not a valid host name.`);
  }

  if (stripWww && labels.length > 1 && labels[0] === 'www') {
    return labels.slice(1).join('.');
  }

  return host;
}

function dropPort(value: string): string {
  const colon = value.lastIndexOf(':');
  if (colon === -1) {
    return value;
  }

  const port = value.slice(colon + 1);
  if (!/^\d{1,5}$/.test(port) || Number(port) > MAX_PORT) {
    throw badHost(`The Host header "${value}" has an invalid port.`);
  }

  return value.slice(0, colon);
}

function dropTrailingDot(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function badHost(message: string): AppError {
  return new AppError('BAD_REQUEST', message);
}
