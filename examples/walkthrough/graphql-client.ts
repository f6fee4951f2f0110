import http from 'node:http';
import https from 'node:https';

export interface GraphqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface GraphqlResponse<T> {
  /** HTTP status code. */
  status: number;
  data?: T | null;
  errors?: GraphqlError[];
}

export interface GraphqlRequest {
  query: string;
  variables?: Record<string, unknown>;
  /** Value of the Host header, which selects the tenant, such as `evilcorp.localhost`. */
  host: string;
  /** Bearer token of a login session or a service token. */
  token?: string;
}

/**
 * Posts GraphQL operations to `<baseUrl>/graphql` with an explicit Host header.
 *
 * It uses node:http instead of fetch. Node 20's fetch drops a Host header set by the caller and
 * sends the host of the URL instead (checked on Node 20.20), so every request would reach the
 * tenant of the URL's host name.
 */
export class GraphqlClient {
  private readonly endpoint: URL;

  constructor(
    baseUrl: string | URL,
    private readonly agent?: http.Agent,
  ) {
    this.endpoint = new URL('graphql', withTrailingSlash(baseUrl));
  }

  /** Sends one operation and parses the JSON response. Rejects only when no JSON comes back. */
  async request<T>(request: GraphqlRequest): Promise<GraphqlResponse<T>> {
    const headers: Record<string, string> = {
      host: request.host,
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (request.token) {
      headers.authorization = `Bearer ${request.token}`;
    }

    const body = JSON.stringify({ query: request.query, variables: request.variables ?? {} });
    const response = await this.post(headers, body);
    try {
      const parsed = JSON.parse(response.text) as Omit<GraphqlResponse<T>, 'status'>;
      return { status: response.status, data: parsed.data, errors: parsed.errors };
    } catch {
      throw new Error(
        `${this.endpoint.href} returned HTTP ${response.status} with a body that is not JSON: ` +
          response.text.slice(0, 200),
      );
    }
  }

  private post(
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number; text: string }> {
    const transport = this.endpoint.protocol === 'https:' ? https : http;

    return new Promise((resolve, reject) => {
      const request = transport.request(
        this.endpoint,
        { method: 'POST', headers, setHost: false, agent: this.agent },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
        },
      );
      request.on('error', (error) => {
        reject(new Error(`The request to ${this.endpoint.href} failed: ${error.message}`));
      });
      request.end(body);
    });
  }
}

function withTrailingSlash(url: string | URL): string {
  const text = url.toString();

  return text.endsWith('/') ? text : `${text}/`;
}
