// A real OpenID provider (node oidc-provider) for askdocs' sign-in tests; started by tests/oidc_fixtures.py.
// Usage: node provider.mjs <config.json>. The config gives the port, the signing keys (private JWKs: the tests
// sign edge-case tokens with them) and the test accounts. Restarting it with other keys is a key rotation.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts; // login name -> {email, email_verified, groups, name}
const RESOURCE = config.resource; // the API audience askdocs checks

function claimsOf(login) {
  const { email, email_verified: verified, groups, name } = accounts[login];
  return { sub: login, email, email_verified: verified, groups, name };
}

const provider = new Provider(issuer, {
  clients: [
    // The search page (confidential; ID tokens ES256, access tokens RS256). Loopback redirect: any port.
    {
      client_id: 'askdocs', client_secret: 'askdocs-test-secret', application_type: 'native',
      redirect_uris: ['http://127.0.0.1/auth/callback', 'http://127.0.0.1/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/'],
      id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'client_secret_basic',
    },
    // A command-line client whose access tokens are signed ES256.
    {
      client_id: 'askdocs-es', client_secret: 'askdocs-es-secret', application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: config.keys },
  cookies: { keys: ['askdocs-test-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  findAccount: async (ctx, id) => (accounts[id] ? { accountId: id, claims: async () => claimsOf(id) } : undefined),
  extraTokenClaims: async (ctx, token) => {
    if (token.kind !== 'AccessToken' || !accounts[token.accountId]) return undefined;
    const { email, email_verified: verified, groups } = claimsOf(token.accountId);
    return { email, email_verified: verified, groups };
  },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== RESOURCE) throw new Error('unknown resource');
        const alg = client.clientId === 'askdocs-es' ? 'ES256' : 'RS256';
        return { scope: 'openid email profile groups', audience: RESOURCE, accessTokenTTL: 600,
          accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, IdToken: 600, Session: 3600, Interaction: 600, Grant: 3600, AuthorizationCode: 60 },
});

const page = (uid, error) => `<!doctype html><html><head><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>${error ? `<p id="error">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<input id="login" name="login" autocomplete="username"><input id="password" name="password" type="password">
<button id="sign-in" type="submit">Sign in</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// First-party client: consent is granted automatically for whatever is asked.
async function consent(req, res, details) {
  const grant = details.grantId ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res) {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') return consent(req, res, details);
  if (match[2] && req.method === 'POST') {
    const form = await readForm(req);
    const login = form.get('login');
    if (!accounts[login]) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(page(match[1], 'unknown account'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  return res.end(page(match[1]));
}

const callback = provider.callback();
createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => { res.writeHead(500); res.end(String(err)); });
  } else {
    callback(req, res);
  }
}).listen(config.port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
