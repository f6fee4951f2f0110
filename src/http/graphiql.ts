/**
 * GraphiQL 3 served entirely from node_modules, so the page works without internet access.
 *
 * Mount it in front of the GraphQL handler on the same path:
 *
 *   app.use('/graphql', graphiqlRouter());
 *   app.use('/graphql', express.json(), expressMiddleware(apollo));
 *
 * The page is then at GET /graphql for browsers, and its scripts and styles are under
 * /graphql/assets/. Other GET /graphql requests pass through to the GraphQL handler.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Router, type Request, type Response } from 'express';

const require = createRequire(import.meta.url);

const ASSETS_PATH = '/assets';

/**
 * Package files under the assets path, by file name. The exports maps of react, react-dom and
 * graphiql hide these files from require.resolve, so each path starts at its package.json.
 */
const PACKAGE_ASSETS: Record<string, { packageName: string; file: string }> = {
  'react.production.min.js': { packageName: 'react', file: 'umd/react.production.min.js' },
  'react-dom.production.min.js': {
    packageName: 'react-dom',
    file: 'umd/react-dom.production.min.js',
  },
  'graphiql.min.js': { packageName: 'graphiql', file: 'graphiql.min.js' },
  'graphiql.min.css': { packageName: 'graphiql', file: 'graphiql.min.css' },
};

const START_SCRIPT_NAME = 'graphiql-start.js';

// Served as a file, not inline, so that a Content-Security-Policy of script-src 'self' allows it.
// The fetcher posts to the path of the page itself, so the page works under any mount path.
// Headers from the header editor (for example Authorization) are sent with every request but not
// stored in localStorage, because shouldPersistHeaders is false.
const START_SCRIPT = `'use strict';
(function () {
  var endpoint = window.location.pathname;

  async function fetcher(graphQLParams, options) {
    var headers = new Headers((options && options.headers) || {});
    headers.set('content-type', 'application/json');
    headers.set('accept', 'application/graphql-response+json, application/json');
    var response = await fetch(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(graphQLParams),
      credentials: 'same-origin',
    });
    var contentType = response.headers.get('content-type') || '';
    if (contentType.indexOf('json') === -1) {
      var text = await response.text();
      return { errors: [{ message: 'HTTP ' + response.status + ' from ' + endpoint + ': ' + text }] };
    }
    return response.json();
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
`;

/**
 * Returns whether a request is a browser visit that should get the GraphiQL page: a GET (or HEAD)
 * whose Accept header ranks text/html above JSON. A wildcard or missing Accept header chooses
 * JSON, so curl and GraphQL clients reach the GraphQL handler.
 */
export function wantsGraphiql(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return false;
  }
  const preferred = req.accepts([
    'application/graphql-response+json',
    'application/json',
    'text/html',
  ]);
  return preferred === 'text/html';
}

/**
 * Creates a router that serves the GraphiQL page at its root for browsers (see wantsGraphiql)
 * and the page's scripts and styles under `assets/`.
 *
 * Throws when react, react-dom or graphiql is not installed or lacks a served file, so the
 * problem shows at startup and not on the first page load.
 */
export function graphiqlRouter(): Router {
  const router = Router();

  router.get('/', (req, res, next) => {
    if (!wantsGraphiql(req)) {
      next();
      return;
    }
    sendPage(req, res);
  });

  for (const [name, asset] of Object.entries(PACKAGE_ASSETS)) {
    const filePath = resolvePackageFile(asset.packageName, asset.file);
    router.get(`${ASSETS_PATH}/${name}`, (_req, res, next) => {
      // sendFile sets Content-Type from the extension, plus ETag and Last-Modified headers.
      res.sendFile(filePath, (error) => {
        if (error) {
          next(error);
        }
      });
    });
  }

  router.get(`${ASSETS_PATH}/${START_SCRIPT_NAME}`, (_req, res) => {
    res.type('text/javascript').send(START_SCRIPT);
  });

  // Without this, an unknown asset path would fall through to the GraphQL handler.
  router.use(ASSETS_PATH, (req, res) => {
    res.status(404).type('text/plain').send(`GraphiQL asset not found: ${req.originalUrl}`);
  });

  return router;
}

function resolvePackageFile(packageName: string, file: string): string {
  const packageJsonPath = require.resolve(`${packageName}/package.json`);
  const filePath = path.join(path.dirname(packageJsonPath), file);
  if (!existsSync(filePath)) {
    throw new Error(
      `GraphiQL asset ${file} is missing from package ${packageName} (expected ${filePath}). ` +
        'Install the versions in package.json: React 18 and GraphiQL 3 ship these UMD builds.',
    );
  }
  return filePath;
}

function sendPage(req: Request, res: Response): void {
  // req.baseUrl is the mount path, such as /graphql.
  const assetsUrl = escapeHtml(`${req.baseUrl}${ASSETS_PATH}`);
  const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>tenant-users GraphiQL</title>
    <link rel="stylesheet" href="${assetsUrl}/graphiql.min.css" />
    <style>
      body { margin: 0; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script src="${assetsUrl}/react.production.min.js"></script>
    <script src="${assetsUrl}/react-dom.production.min.js"></script>
    <script src="${assetsUrl}/graphiql.min.js"></script>
    <script src="${assetsUrl}/${START_SCRIPT_NAME}"></script>
  </body>
</html>
`;
  res.type('html').set('Cache-Control', 'no-cache').send(html);
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
