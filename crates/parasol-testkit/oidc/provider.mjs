// A real OpenID provider for Parasol's tests: oidc-provider with its development sign-in
// pages, on plain http at 127.0.0.1, with the clients and users the test asks for.
//
// Run: node provider.mjs [port]
// The set-up comes as JSON in PARASOL_OIDC_SETUP (without it, a demo client and user):
//   {
//     "clients": [{ "client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris",
//                   "token_endpoint_auth_method", "id_token_signed_response_alg" }],
//     "users": [{ "id", "email", "email_verified", "name", "groups", "password" }],
//     "ttl": { "AccessToken", "IdToken", "RefreshToken", "Session", ... }  (seconds)
//   }
// When it is ready to serve it prints `LISTENING http://127.0.0.1:<port>` on stdout.
// oidc-provider prints its notices on stdout too, so a reader must look for that line.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';

const DEMO_SETUP = {
  clients: [
    {
      client_id: 'demo',
      client_secret: 'demo-secret',
      redirect_uris: ['http://127.0.0.1:8000/oauth2/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1:8000/'],
    },
  ],
  users: [
    {
      id: 'alice',
      email: 'alice@example.test',
      email_verified: true,
      name: 'Alice Example',
      groups: ['staff'],
    },
  ],
};

function readSetup() {
  const text = process.env.PARASOL_OIDC_SETUP;
  if (!text) {
    console.error('provider: no PARASOL_OIDC_SETUP, serving the demo client and user');
    return DEMO_SETUP;
  }
  return JSON.parse(text);
}

// Our clients are confidential web clients doing the authorization-code flow with refresh
// tokens; anything the set-up says wins over these.
function clientMetadata(client) {
  return {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    post_logout_redirect_uris: [],
    ...client,
  };
}

function accountFinder(users) {
  const byId = new Map(users.map((user) => [user.id, user]));

  // `loginGate` lets only known logins through, so every session's account is here.
  return async (_ctx, id) => {
    const user = byId.get(id);
    if (!user) {
      return undefined;
    }
    return {
      accountId: user.id,
      // Every claim the user has; the provider keeps those the granted scopes allow.
      async claims() {
        return {
          sub: user.id,
          email: user.email,
          email_verified: user.email_verified ?? true,
          name: user.name,
          preferred_username: user.id,
          groups: user.groups ?? [],
        };
      },
    };
  };
}

// Fresh signing keys for each run: one per algorithm a client may ask for its ID token.
function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const ed = generateKeyPairSync('ed25519').privateKey;
  return {
    keys: [
      { ...rsa.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' },
      { ...ec.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' },
      { ...ed.export({ format: 'jwk' }), kid: 'ed-1', use: 'sig', alg: 'Ed25519' },
    ],
  };
}

function configuration(setup) {
  return {
    clients: setup.clients.map(clientMetadata),
    findAccount: accountFinder(setup.users),
    jwks: signingKeys(),
    // Signed cookies need keys; a random one per run is enough for a test provider.
    // The names differ from the defaults (`_session`...) because cookies do not tell
    // ports apart: the provider and the app under test share the host 127.0.0.1.
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: {
        session: 'op_session',
        interaction: 'op_interaction',
        resume: 'op_interaction_resume',
      },
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // By default claims asked for through scopes go to the userinfo endpoint only when an
    // access token is issued; an app reading email and groups from the ID token (as most
    // providers allow) needs them there too.
    conformIdTokenClaims: false,
    // The provider drops offline_access unless the request also says prompt=consent;
    // refresh tokens go to every client allowed the grant, so tests need neither.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
    },
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 600,
      RefreshToken: 3600,
      Session: 3600,
      Grant: 3600,
      ...setup.ttl,
    },
    // The development pages would print the whole error with its stack; the error code
    // and description are what a test wants to read.
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const lines = Object.entries(out).map(([key, value]) => `<p>${key}: ${escapeHtml(value)}</p>`);
      ctx.body = `<!DOCTYPE html><title>error</title>${lines.join('')}`;
    },
  };
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The development login form takes any login and password, and an unknown login makes
// the provider fail later (its consent check finds no account). So a login is checked
// here first: an unknown one, or a wrong password for a user who has one, is sent back to
// the same form, as a real provider would. Reading the body here makes oidc-provider
// warn once that a body was already parsed; it then uses `req.body`, as it documents.
function loginGate(users) {
  const byId = new Map(users.map((user) => [user.id, user]));
  const accepts = (login, password) => {
    const user = byId.get(login);
    return user !== undefined && (user.password == null || user.password === password);
  };

  return async (ctx, next) => {
    const uid = ctx.method === 'POST' ? /^\/interaction\/([^/]+)$/.exec(ctx.path)?.[1] : undefined;
    if (!uid || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const chunks = [];
    for await (const chunk of ctx.req) {
      chunks.push(chunk);
    }
    const body = parseQuery(Buffer.concat(chunks).toString('utf8'));
    ctx.req.body = body;
    if (body.prompt === 'login' && !accepts(String(body.login), String(body.password))) {
      ctx.set('cache-control', 'no-store');
      ctx.status = 303;
      ctx.redirect(`/interaction/${uid}`);
      return undefined;
    }
    return next();
  };
}

// Plain http on 127.0.0.1 needs nothing special: the provider marks its cookies Secure
// only when the request arrived over TLS (koa's ctx.secure), it accepts http redirect URIs
// for web clients using the code flow, and nothing here sits behind a TLS-terminating
// proxy, so `provider.proxy` stays off and X-Forwarded-* headers are not trusted.
function main() {
  const setup = readSetup();
  const port = Number(process.argv[2] ?? process.env.PARASOL_OIDC_PORT ?? 0);

  let handler = (_req, res) => {
    res.writeHead(503).end();
  };
  const server = createServer((req, res) => handler(req, res));

  // The issuer must carry the real port, known only once the socket is bound.
  server.listen(port, '127.0.0.1', () => {
    const issuer = `http://127.0.0.1:${server.address().port}`;
    const provider = new Provider(issuer, configuration(setup));
    provider.use(loginGate(setup.users));
    provider.on('server_error', (_ctx, error) => console.error('provider: server error', error));
    handler = provider.callback();
    console.log(`LISTENING ${issuer}`);
  });

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => server.close(() => process.exit(0)));
  }
}

main();
