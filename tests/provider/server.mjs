// OpenID Connect test provider for the jupyter-nevis-auth test suite.
//
// Runs oidc-provider (OpenID Certified) with the endpoint paths of Nevis
// Identity Cloud, plus test-only admin endpoints under /__test__/ to register
// clients and read request counters.
//
// It issues JWT access tokens for three APIs (RESOURCES below). An
// authorization may name them with RFC 8707 resource parameters or ask for
// their scopes alone; https://api.test is always included and is the token
// of every request that names no resource. A refresh may be narrowed to one
// granted API with resource and/or scope. RFC 8693 token exchange turns an
// access token of a grant into one for another API of the same grant: like
// narrowing, it never reaches past what the user consented to, but it needs
// no refresh token and sees scopes added to the grant later.
//
// With --device-flow it also offers the device authorization grant (RFC 8628)
// with oidc-provider's own user-code and confirmation pages; clients registered
// with device_interval, device_code_ttl and slow_down_polls hear that interval,
// get codes of that lifetime, and get slow_down for their first polls.
//
// With --login-first its authorization endpoint sends a browser that has not
// signed in to a login page of its own (/login?next=...) before it looks at the
// request at all, as django-oauth-toolkit does: an unregistered redirect_uri is
// refused only after the password. The default checks the request first.
//
// Authentication levels (acr): a login yields PASSWORD_ACR; when the request's acr_values
// name SECOND_FACTOR_ACR, the login goes on to a "second factor" page (any code) that
// yields it, or can be skipped, which leaves PASSWORD_ACR. A session whose acr is not
// among the requested acr_values is asked to log in again. JWT access tokens carry the
// sign-in's acr and auth_time, for APIs that ask for a step-up (RFC 9470).
//
// With --par it takes pushed authorization requests (RFC 9126), and with --require-par it
// says in discovery that it requires them; with --key-auth it offers private_key_jwt
// client authentication (RFC 7523) to clients registered with jwks or jwks_uri. Off by
// default: Nevis advertises neither.
//
// Usage: node server.mjs [PORT] [--port PORT] [--state FILE] [--device-flow] [--login-first]
//   [--dpop] [--par] [--require-par] [--key-auth]
//   PORT 0 (the default) picks a free port. Env fallbacks: OIDC_PROVIDER_PORT,
//   OIDC_PROVIDER_STATE, OIDC_PROVIDER_DEVICE_FLOW=1, OIDC_PROVIDER_LOGIN_FIRST=1,
//   OIDC_PROVIDER_DPOP=1, OIDC_PROVIDER_PAR=1 (or required), OIDC_PROVIDER_KEY_AUTH=1.
//   With --state, keys, clients, tokens, sessions and
//   counters are written to FILE on SIGTERM/SIGINT and read back on start, so a
//   restart on the same port looks like a provider outage, not a new provider.
// Prints "READY <issuer>" on stdout once listening.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
// The provider's own DPoP proof check (nonce, replay), as its built-in grants run it: the
// token exchange below binds its tokens as they do.
import validateDpop, { checkDpopReplay } from 'oidc-provider/lib/helpers/validate_dpop.js';

// The protected APIs this provider issues JWT access tokens for: RFC 8707
// resource indicator (also the token's aud) -> the scopes it understands.
const RESOURCES = new Map([
  ['https://api.test', ['api']],
  ['https://sales.test', ['sales.read']],
  ['https://models.test', ['models.read']],
]);
// The resource of every request that names none, as before there were several.
const DEFAULT_RESOURCE = 'https://api.test';
const API_SCOPES = [...RESOURCES.values()].flat();
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const HOST = '127.0.0.1';
const AUTHORIZE_PATH = '/auth/oauth2/authorize';
// The --login-first login page, and the cookie that says its browser signed in.
const LOGIN_PATH = '/login';
const LOGIN_COOKIE = 'login_first';
const DAY = 24 * 60 * 60;
const PASSWORD_ACR = 'urn:nevis:test:password';
const SECOND_FACTOR_ACR = 'urn:nevis:test:second-factor';

const { values: args, positionals } = parseArgs({
  options: {
    port: { type: 'string' },
    state: { type: 'string' },
    'device-flow': { type: 'boolean' },
    'login-first': { type: 'boolean' },
    dpop: { type: 'boolean' },
    par: { type: 'boolean' },
    'require-par': { type: 'boolean' },
    'key-auth': { type: 'boolean' },
  },
  allowPositionals: true,
});
const requestedPort = Number(args.port ?? positionals[0] ?? process.env.OIDC_PROVIDER_PORT ?? 0);
const stateFile = args.state ?? process.env.OIDC_PROVIDER_STATE;
const deviceFlow = args['device-flow'] ?? process.env.OIDC_PROVIDER_DEVICE_FLOW === '1';
const loginFirst = args['login-first'] ?? process.env.OIDC_PROVIDER_LOGIN_FIRST === '1';
// DPoP (RFC 9449) with nonces: every token request must carry the provider's latest nonce.
const dpop = args.dpop ?? process.env.OIDC_PROVIDER_DPOP === '1';
const requirePar = args['require-par'] ?? process.env.OIDC_PROVIDER_PAR === 'required';
const par = requirePar || (args.par ?? process.env.OIDC_PROVIDER_PAR === '1');
const keyAuth = args['key-auth'] ?? process.env.OIDC_PROVIDER_KEY_AUTH === '1';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`invalid port: ${requestedPort}`);
  process.exit(2);
}

const saved = stateFile && fs.existsSync(stateFile)
  ? JSON.parse(fs.readFileSync(stateFile, 'utf8'))
  : undefined;

// ---------------------------------------------------------------- storage

// A plain Map instead of oidc-provider's bundled LRU adapter: that one holds
// 1000 entries, so a long test session could silently evict its clients.
const store = new Map(saved?.store ?? []); // key -> { payload, expiresAt }
const grantIndex = new Map(); // grantId -> Set of keys
const uidIndex = new Map(); // session uid -> key
const userCodeIndex = new Map(); // user code -> key
const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

function indexEntry(key, payload) {
  if (payload.grantId && grantable.has(key.slice(0, key.indexOf(':')))) {
    if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
    grantIndex.get(payload.grantId).add(key);
  }
  if (key.startsWith('Session:') && payload.uid) uidIndex.set(payload.uid, key);
  if (payload.userCode) userCodeIndex.set(payload.userCode, key);
}

function unindexEntry(key, payload) {
  if (payload.grantId) grantIndex.get(payload.grantId)?.delete(key);
  if (payload.uid && uidIndex.get(payload.uid) === key) uidIndex.delete(payload.uid);
  if (payload.userCode && userCodeIndex.get(payload.userCode) === key) {
    userCodeIndex.delete(payload.userCode);
  }
}

function readEntry(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
    store.delete(key);
    unindexEntry(key, entry.payload);
    return undefined;
  }
  return entry.payload;
}

function deleteEntry(key) {
  const entry = store.get(key);
  if (entry) {
    store.delete(key);
    unindexEntry(key, entry.payload);
  }
}

for (const [key, { payload }] of store) indexEntry(key, payload);

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    deleteEntry(key);
    // An expired device code stays a minute, so that polling for it hears expired_token.
    const kept = this.model === 'DeviceCode' ? expiresIn + 60 : expiresIn;
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + kept * 1000 : null;
    store.set(key, { payload, expiresAt });
    indexEntry(key, payload);
  }

  async find(id) {
    const payload = readEntry(this.key(id));
    if (this.model === 'RefreshToken' && payload?.consumed && withinReuseGrace(payload)) {
      // Taken again, as by a provider with a reuse grace period for rotated refresh tokens
      // (an answer lost on its way must not end the grant): rotated once more.
      const { consumed, ...again } = payload;
      return again;
    }
    return payload;
  }

  async findByUid(uid) {
    const key = uidIndex.get(uid);
    return key ? readEntry(key) : undefined;
  }

  async findByUserCode(userCode) {
    const key = userCodeIndex.get(userCode);
    return key ? readEntry(key) : undefined;
  }

  async consume(id) {
    const payload = readEntry(this.key(id));
    if (!payload) return;
    if (payload.consumed) {
      countReuse(payload.clientId); // taken again within its grace period (find() said so)
    } else {
      // The grace period counts from the first use.
      payload.consumed = Math.floor(Date.now() / 1000);
      payload.consumedAt = Date.now();
    }
  }

  async destroy(id) {
    deleteEntry(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of [...grantIndex.get(grantId) ?? []]) deleteEntry(key);
    grantIndex.delete(grantId);
  }
}

// ---------------------------------------------------------------- per-client knobs and counters

const KNOBS = ['access_token_ttl', 'id_token_ttl', 'refresh_token_ttl', 'rotate_refresh_token',
  'echo_refresh_token', 'jwt_access_token', 'narrow_refresh', 'token_exchange',
  'device_interval', 'device_code_ttl', 'slow_down_polls', 'refresh_reuse_grace'];
const knobs = new Map(saved?.knobs ?? []); // client_id -> { knob: value }
const stats = new Map(saved?.stats ?? []); // client_id -> counters

function knob(client, name) {
  return client ? knobs.get(client.clientId)?.[name] : undefined;
}

// Whether a rotated refresh token is still taken: within its client's refresh_reuse_grace
// seconds of its first use (none by default: its reuse ends the grant).
function withinReuseGrace(payload) {
  const grace = Number(knobs.get(payload.clientId)?.refresh_reuse_grace) || 0;
  return grace > 0 && Date.now() - (payload.consumedAt ?? payload.consumed * 1000) < grace * 1000;
}

function emptyCounter() {
  return { ok: 0, error: 0, total: 0 };
}

function emptyStats() {
  return {
    token: {},
    revocation: emptyCounter(),
    par: emptyCounter(),
    userinfo: emptyCounter(),
    end_session: emptyCounter(),
    client_auth: {},
  };
}

function count(clientId, endpoint, ok, grantType, authMethod) {
  if (!stats.has(clientId)) stats.set(clientId, emptyStats());
  const entry = stats.get(clientId);
  if (authMethod) entry.client_auth[authMethod] = (entry.client_auth[authMethod] ?? 0) + 1;
  let counter = (entry[endpoint] ??= emptyCounter());
  if (endpoint === 'token') {
    entry.token[grantType] ??= emptyCounter();
    counter = entry.token[grantType];
  }
  counter.total += 1;
  counter[ok ? 'ok' : 'error'] += 1;
}

// A rotated refresh token taken again within its client's refresh_reuse_grace.
function countReuse(clientId) {
  if (!stats.has(clientId)) stats.set(clientId, emptyStats());
  const entry = stats.get(clientId);
  entry.refresh_reused = (entry.refresh_reused ?? 0) + 1;
}

function sumStats(entries) {
  const total = emptyStats();
  for (const entry of entries) {
    for (const [grantType, counter] of Object.entries(entry.token)) {
      total.token[grantType] ??= emptyCounter();
      for (const field of Object.keys(counter)) total.token[grantType][field] += counter[field];
    }
    for (const [method, n] of Object.entries(entry.client_auth)) {
      total.client_auth[method] = (total.client_auth[method] ?? 0) + n;
    }
    if (entry.refresh_reused) total.refresh_reused = (total.refresh_reused ?? 0) + entry.refresh_reused;
    for (const endpoint of ['revocation', 'par', 'userinfo', 'end_session']) {
      for (const field of Object.keys(entry[endpoint] ?? {})) {
        total[endpoint][field] += entry[endpoint][field];
      }
    }
  }
  return total;
}

// ---------------------------------------------------------------- accounts

function displayName(sub) {
  return `${sub.charAt(0).toUpperCase()}${sub.slice(1)} Example`;
}

async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: displayName(sub),
        preferred_username: sub,
        email: `${sub}@example.test`,
        email_verified: true,
      };
    },
  };
}

// ---------------------------------------------------------------- resources

function scopesOf(resource) {
  return RESOURCES.get(resource) ?? [];
}

// Nevis assigns API scopes to an application and clients ask for them by
// scope alone, so an authorization that names no resource is granted the
// default resource plus every API whose scope it asks for. With several
// granted, a token request gets the one its scope points at.
async function defaultResource(ctx, client, oneOf) {
  const requested = [...ctx.oidc.requestParamScopes];
  const asksFor = (resource) => requested.some((scope) => scopesOf(resource).includes(scope));
  if (oneOf) {
    return oneOf.find(asksFor) ?? (oneOf.includes(DEFAULT_RESOURCE) ? DEFAULT_RESOURCE : oneOf[0]);
  }
  if (knob(client, 'jwt_access_token') === false) return undefined;
  const resources = [DEFAULT_RESOURCE, ...[...RESOURCES.keys()].filter(
    (resource) => resource !== DEFAULT_RESOURCE && asksFor(resource),
  )];
  return resources.length === 1 ? resources[0] : resources;
}

// A token request's own scope or resource parameter, per RFC 6749 section 6
// and RFC 8707 section 2.2.
function narrows(ctx) {
  const { params } = ctx.oidc;
  return ctx.oidc.route === 'token' && (params.resource !== undefined || params.scope !== undefined);
}

function checkNarrowing(ctx, resource, client) {
  if (!narrows(ctx)) return;
  const { params } = ctx.oidc;
  if (params.grant_type === 'refresh_token' && knob(client, 'narrow_refresh') === false) {
    if (params.resource !== undefined) {
      throw new errors.InvalidTarget('this client may not name a resource when refreshing');
    }
    throw new errors.InvalidScope('this client may not name a scope when refreshing', params.scope);
  }
  // oidc-provider would issue a token with an empty scope here; a real API
  // server refuses to mint a token that grants nothing.
  const apiScopes = [...ctx.oidc.requestParamScopes].filter((scope) => API_SCOPES.includes(scope));
  if (apiScopes.length !== 0 && !apiScopes.some((scope) => scopesOf(resource).includes(scope))) {
    throw new errors.InvalidScope(`no requested scope is a scope of ${resource}`, apiScopes.join(' '));
  }
}

async function getResourceServerInfo(ctx, resource, client) {
  if (!RESOURCES.has(resource)) throw new errors.InvalidTarget();
  checkNarrowing(ctx, resource, client);
  return {
    scope: scopesOf(resource).join(' '),
    audience: resource,
    accessTokenFormat: 'jwt',
    accessTokenTTL: knob(client, 'access_token_ttl') ?? 3600,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// ---------------------------------------------------------------- authentication levels

function askedAcrs(params) {
  return String(params.acr_values ?? '').split(' ').filter(Boolean);
}

// oidc-provider asks for a login again only for essential acr claims; Nevis (and RFC 9470
// step-up) treats acr_values as what the sign-in must reach.
function loginPolicy() {
  const policy = interactionPolicy.base();
  policy.get('login').checks.add(new interactionPolicy.Check(
    'acr_not_reached',
    'the requested authentication level is not reached',
    (ctx) => {
      const { oidc } = ctx;
      const asked = askedAcrs(oidc.params);
      if (asked.length === 0 || !oidc.session.accountId || oidc.result?.login) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }
      return asked.includes(oidc.session.acr)
        ? interactionPolicy.Check.NO_NEED_TO_PROMPT
        : interactionPolicy.Check.REQUEST_PROMPT;
    },
  ));
  return policy;
}

// The acr and auth_time of the sign-in a JWT access token comes from.
async function signInClaims(ctx) {
  const { entities } = ctx.oidc;
  const source = entities.AuthorizationCode ?? entities.RefreshToken ?? entities.DeviceCode;
  if (!source) return undefined;
  return { acr: source.acr, auth_time: source.authTime };
}

async function readForm(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The devInteractions login form's answer, with an acr: the password's, or after the
// second-factor page (when acr_values ask for it) the second factor's.
function secondFactor(provider) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(\/second-factor)?$/.exec(ctx.path);
    if (ctx.method !== 'POST' || !match) {
      await next();
      return;
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') {
      await next();
      return;
    }
    const form = await readForm(ctx);
    const finish = (login, acr, amr) => provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: login, acr, amr },
    }, { mergeWithLastSubmission: false });
    if (match[2]) {
      const passed = form.get('factor') === 'code' && /^\d{6}$/.test(form.get('code') ?? '');
      await (passed
        ? finish(form.get('login'), SECOND_FACTOR_ACR, ['pwd', 'otp'])
        : finish(form.get('login'), PASSWORD_ACR, ['pwd']));
      return;
    }
    if (!askedAcrs(details.params).includes(SECOND_FACTOR_ACR)) {
      await finish(form.get('login'), PASSWORD_ACR, ['pwd']);
      return;
    }
    ctx.type = 'html';
    ctx.body = page('Second factor', `<form method="post" action="${htmlEscape(ctx.path)}/second-factor">`
      + `<input type="hidden" name="login" value="${htmlEscape(form.get('login') ?? '')}">`
      + '<label>Code from your authenticator <input name="code" autocomplete="one-time-code"></label>'
      + '<button type="submit" name="factor" value="code">Verify</button>'
      + '<button type="submit" name="factor" value="skip">Skip</button></form>');
  };
}

// ---------------------------------------------------------------- provider

function htmlEscape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body><h1>${title}</h1>${body}</body></html>`;
}

function signingKeys() {
  // The key comes out of its generation as PEM and is read back as a key of its own. Node 20
  // can deadlock exporting a key that generateKeyPairSync returned as a KeyObject: a garbage
  // collection during the export frees the generation job, which waits for the key's lock
  // the export holds (seen as about 1 start in 20 that never printed READY).
  const { privateKey: pem } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const jwk = crypto.createPrivateKey(pem).export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `test-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }] };
}

const jwks = saved?.jwks ?? signingKeys();
const cookieKeys = saved?.cookieKeys ?? [crypto.randomBytes(32).toString('base64url')];

function configuration() {
  return {
    adapter: MapAdapter,
    jwks,
    cookies: { keys: cookieKeys },
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', ...API_SCOPES],
    acrValues: [PASSWORD_ACR, SECOND_FACTOR_ACR],
    extraTokenClaims: signInClaims,
    interactions: { policy: loginPolicy() },
    // Nevis puts the profile claims in the ID token; the OIDC default would
    // move them to userinfo, which rejects the JWT access tokens issued here.
    conformIdTokenClaims: false,
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post',
      ...(keyAuth ? ['private_key_jwt'] : [])],
    clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'],
    // A client's jwks_uri is a test's Jupyter server on loopback, which oidc-provider's
    // protection against server-side request forgery refuses to reach.
    ...(keyAuth ? { fetch: (url, { dispatcher: _dispatcher, ...options }) => fetch(url, options) } : {}),
    pkce: { required: () => true },
    routes: {
      authorization: AUTHORIZE_PATH,
      token: '/auth/oauth2/token',
      jwks: '/.well-known/jwks.json',
      revocation: '/auth/oauth2/revoke',
      end_session: '/sso/logout',
      userinfo: '/auth/oauth2/userinfo',
    },
    features: {
      devInteractions: { enabled: true },
      // oidc-provider's own user-code input and confirmation pages.
      deviceFlow: { enabled: deviceFlow },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      // Off unless asked for (--dpop): Nevis does not advertise it and a client must not
      // need it.
      dPoP: dpop
        ? { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true }
        : { enabled: false },
      pushedAuthorizationRequests: {
        enabled: par, requirePushedAuthorizationRequests: requirePar,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}`
            + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>'
            + '<button type="submit" form="op.logoutForm">No, stay signed in</button>');
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource,
        useGrantedResource: async () => true,
        getResourceServerInfo,
      },
    },
    clientBasedCORS: () => false,
    rotateRefreshToken: (ctx) => knob(ctx.oidc.client, 'rotate_refresh_token') === true,
    ttl: {
      AccessToken: (_ctx, token, client) => knob(client, 'access_token_ttl')
        ?? token.resourceServer?.accessTokenTTL ?? 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      DeviceCode: (_ctx, _token, client) => knob(client, 'device_code_ttl') ?? 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
      IdToken: (_ctx, _token, client) => knob(client, 'id_token_ttl') ?? 3600,
      RefreshToken: (_ctx, _token, client) => knob(client, 'refresh_token_ttl') ?? 14 * DAY,
      Interaction: 3600,
      Session: 14 * DAY,
      Grant: 14 * DAY,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([key, value]) => `<pre class="error">${htmlEscape(key)}: ${htmlEscape(value)}</pre>`)
        .join(''));
    },
  };
}

// ---------------------------------------------------------------- token exchange (RFC 8693)

const TOKEN_EXCHANGE_PARAMS = ['subject_token', 'subject_token_type', 'actor_token',
  'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope'];
// jose takes public keys only in a local key set.
const publicKeys = jose.createLocalJWKSet({
  keys: jwks.keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
});

// JWT access tokens are not stored (oidc-provider emits access_token.issued
// for them, not .saved), so the grant each came from is noted here under its
// jti for token exchange to find it again.
function rememberGrant(token) {
  if (!token.grantId) return;
  store.set(`IssuedAccessToken:${token.jti}`, {
    payload: { grantId: token.grantId },
    expiresAt: Date.now() + token.expiration * 1000,
  });
}

async function subjectOf(ctx, issuer, value) {
  const { client } = ctx.oidc;
  if (value.split('.').length !== 3) {
    const token = await ctx.oidc.provider.AccessToken.find(value);
    if (!token) throw new errors.InvalidGrant('subject_token is not an active access token');
    if (token.clientId !== client.clientId) {
      throw new errors.InvalidGrant('subject_token belongs to another client');
    }
    return { accountId: token.accountId, grantId: token.grantId };
  }
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(value, publicKeys, {
      issuer, typ: 'at+jwt', algorithms: ['RS256'], requiredClaims: ['sub', 'client_id', 'jti', 'exp'],
    }));
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token rejected: ${err.code ?? err.message}`);
  }
  // Another client's token would let any client act for any user it saw a token of.
  if (payload.client_id !== client.clientId) {
    throw new errors.InvalidGrant('subject_token belongs to another client');
  }
  const grantId = readEntry(`IssuedAccessToken:${payload.jti}`)?.grantId;
  if (!grantId) throw new errors.InvalidGrant('subject_token was not issued from a grant');
  return { accountId: payload.sub, grantId };
}

// The one resource the new token is for: resource and audience both name it
// here, since every audience is its resource indicator.
function exchangeTarget(params) {
  const named = [params.resource, params.audience].flat().filter((value) => value !== undefined);
  const targets = new Set(named);
  if (targets.size > 1) {
    throw new errors.InvalidTarget('only one resource or audience per token exchange');
  }
  const [target = DEFAULT_RESOURCE] = targets;
  if (!RESOURCES.has(target)) throw new errors.InvalidTarget();
  return target;
}

// The new token never reaches past the user's consent: its resource and
// scopes must have been granted by the authorization the subject token came from.
function exchangeScope(params, grant, target) {
  const known = scopesOf(target);
  const requested = params.scope === undefined ? known : params.scope.split(' ').filter(Boolean);
  const unknown = requested.filter((scope) => !known.includes(scope));
  if (requested.length === 0 || unknown.length !== 0) {
    throw new errors.InvalidScope(`requested scope is not a scope of ${target}`, unknown.join(' '));
  }
  const granted = grant.getResourceScopeFiltered(target, known).split(' ').filter(Boolean);
  if (granted.length === 0) throw new errors.InvalidTarget(`${target} was not granted to this client`);
  const missing = requested.filter((scope) => !granted.includes(scope));
  if (missing.length !== 0) {
    throw new errors.InvalidScope('requested scope was not granted', missing.join(' '));
  }
  return requested.join(' ');
}

async function tokenExchange(ctx) {
  const { client, params, provider } = ctx.oidc;
  if (knob(client, 'token_exchange') === false) {
    throw new errors.UnauthorizedClient('this client may not use token exchange');
  }
  for (const name of ['subject_token', 'subject_token_type']) {
    if (!params[name]) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
  }
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('subject_token_type must be an access token type');
  }
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    throw new errors.InvalidRequest('delegation (actor_token) is not supported');
  }
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('only access tokens can be requested');
  }
  const dPoP = await validateDpop(provider, ctx);
  await checkDpopReplay(provider, ctx, dPoP, client.clientId);
  const subject = await subjectOf(ctx, provider.issuer, params.subject_token);
  const target = exchangeTarget(params);
  const grant = await provider.Grant.find(subject.grantId);
  if (!grant || grant.clientId !== client.clientId || grant.accountId !== subject.accountId) {
    throw new errors.InvalidGrant('the grant behind subject_token is gone');
  }
  const scope = exchangeScope(params, grant, target);
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({
    accountId: subject.accountId,
    client,
    grantId: subject.grantId,
    gty: 'token_exchange',
    scope,
  });
  if (dPoP) at.setThumbprint('jkt', dPoP.thumbprint);
  const info = await getResourceServerInfo(ctx, target, client);
  at.resourceServer = new provider.ResourceServer(target, info);
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();
  ctx.body = {
    access_token: accessToken,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: at.tokenType,
    expires_in: at.expiration,
    scope,
  };
}

// ---------------------------------------------------------------- admin endpoints and counters

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

async function registerClient(provider, ctx) {
  let body;
  try {
    body = await readJson(ctx);
  } catch (err) {
    sendJson(ctx, 400, { error: 'invalid_request', error_description: `body is not JSON: ${err.message}` });
    return;
  }
  const metadata = { ...body };
  const clientKnobs = {};
  for (const name of KNOBS) {
    if (metadata[name] !== undefined && metadata[name] !== null) clientKnobs[name] = metadata[name];
    delete metadata[name];
  }
  metadata.client_secret ??= crypto.randomBytes(24).toString('base64url');
  try {
    // Validates the metadata exactly as a static client configuration would be.
    const client = new provider.Client(metadata);
    await provider.Client.adapter.upsert(client.clientId, client.metadata());
    knobs.set(client.clientId, clientKnobs);
    sendJson(ctx, 201, { ...client.metadata(), ...clientKnobs });
  } catch (err) {
    sendJson(ctx, 400, { error: err.error ?? 'invalid_client_metadata', error_description: err.error_description ?? err.message });
  }
}

// Seconds the token endpoint holds its answers to a client back, after it has acted on the
// request (a refresh has rotated the refresh token by then): a provider answering late.
const tokenDelays = new Map();

function slowTokenAnswers() {
  return async (ctx, next) => {
    await next();
    const seconds = ctx.oidc?.route === 'token' ? tokenDelays.get(requestClientId(ctx)) : 0;
    if (seconds > 0) await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  };
}

function admin(provider) {
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/__test__/')) {
      await next();
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/__test__/clients') {
      await registerClient(provider, ctx);
    } else if (ctx.method === 'GET' && ctx.path === '/__test__/stats') {
      const clientId = ctx.query.client_id;
      const body = clientId === undefined
        ? sumStats(stats.values())
        : (stats.get(clientId) ?? emptyStats());
      sendJson(ctx, 200, body);
    } else if (ctx.method === 'POST' && ctx.path === '/__test__/stats/reset') {
      stats.clear();
      sendJson(ctx, 200, {});
    } else if (ctx.method === 'POST' && ctx.path === '/__test__/token_delay') {
      const { client_id: clientId, seconds } = await readJson(ctx);
      tokenDelays.set(clientId, Number(seconds) || 0);
      sendJson(ctx, 200, { seconds: tokenDelays.get(clientId) });
    } else if (ctx.method === 'POST' && ctx.path === '/__test__/grants/revoke') {
      // What an administrator's "revoke access" does: every grant of the client ends,
      // with its refresh and access tokens (a refresh then answers invalid_grant).
      const { client_id: clientId } = await readJson(ctx);
      let revoked = 0;
      for (const [key, { payload }] of [...store]) {
        if (payload.clientId === clientId && /^(Grant|RefreshToken|AccessToken):/.test(key)) {
          deleteEntry(key);
          revoked += 1;
        }
      }
      sendJson(ctx, 200, { revoked });
    } else {
      sendJson(ctx, 404, { error: 'not_found' });
    }
  };
}

function formDecode(value) {
  return decodeURIComponent(value.replace(/\+/g, '%20'));
}

// Who sent the request, even when it failed before oidc-provider found the client.
function requestClientId(ctx) {
  const { oidc } = ctx;
  const known = oidc.client?.clientId ?? oidc.entities?.AccessToken?.clientId;
  if (known) return known;
  const [scheme, credentials] = (ctx.get('authorization') || '').split(' ');
  try {
    if (scheme?.toLowerCase() === 'basic' && credentials) {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      return formDecode(decoded.slice(0, Math.max(decoded.indexOf(':'), 0)));
    }
    if (scheme?.toLowerCase() === 'bearer' && credentials?.split('.').length === 3) {
      return JSON.parse(Buffer.from(credentials.split('.')[1], 'base64url').toString('utf8')).client_id ?? '';
    }
  } catch {
    return '';
  }
  return oidc.params?.client_id ?? oidc.body?.client_id ?? '';
}

// oidc-provider accepts either secret method from any client_secret_* client,
// so tests read from here which one a client really used.
function clientAuthMethod(ctx) {
  if (/^basic /i.test(ctx.get('authorization'))) return 'client_secret_basic';
  if (ctx.oidc.body?.client_secret !== undefined) return 'client_secret_post';
  if (ctx.oidc.body?.client_assertion !== undefined) return 'private_key_jwt';
  return 'none';
}

function counters() {
  return async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    const routes = ['token', 'revocation', 'pushed_authorization_request', 'userinfo', 'end_session'];
    if (!routes.includes(route)) return;
    const ok = ctx.status < 400;
    const clientId = requestClientId(ctx);
    if (route === 'token') {
      const grantType = ctx.oidc.params?.grant_type ?? ctx.oidc.body?.grant_type ?? 'unknown';
      count(clientId, 'token', ok, grantType, clientAuthMethod(ctx));
    } else if (route === 'pushed_authorization_request') {
      count(clientId, 'par', ok, undefined, clientAuthMethod(ctx));
    } else {
      count(clientId, route, ok, undefined, route === 'revocation' ? clientAuthMethod(ctx) : undefined);
    }
  };
}

// Nevis may answer a refresh without a refresh token, meaning "keep the old
// one"; a client registered with echo_refresh_token=false gets that behaviour.
function refreshEcho() {
  return async (ctx, next) => {
    await next();
    if (
      ctx.oidc?.route === 'token'
      && ctx.status === 200
      && ctx.oidc.params?.grant_type === 'refresh_token'
      && knob(ctx.oidc.client, 'echo_refresh_token') === false
      && ctx.body?.refresh_token === ctx.oidc.params.refresh_token
    ) {
      delete ctx.body.refresh_token;
    }
  };
}

// The device flow's answers, as knobs of a client ask: the polling interval the
// device authorization names, and slow_down instead of the first pending answers.
const slowDowns = new Map(); // client_id -> slow_down answers given
function deviceKnobs() {
  return async (ctx, next) => {
    await next();
    const { client, route, params } = ctx.oidc ?? {};
    if (route === 'device_authorization' && ctx.status === 200) {
      const interval = knob(client, 'device_interval');
      if (interval !== undefined) ctx.body.interval = interval;
    }
    if (route === 'token' && params?.grant_type === DEVICE_CODE
        && ctx.body?.error === 'authorization_pending') {
      const given = slowDowns.get(client.clientId) ?? 0;
      if (given < (knob(client, 'slow_down_polls') ?? 0)) {
        slowDowns.set(client.clientId, given + 1);
        ctx.body = { ...ctx.body, error: 'slow_down', error_description: 'you are polling too quickly' };
      }
    }
  };
}

// --login-first: a signed-out browser goes to LOGIN_PATH before oidc-provider
// sees its authorization request; once it signs in there (any name), the request
// goes on to oidc-provider, which checks it and shows its own login as usual.
function loginPage() {
  return async (ctx, next) => {
    if (ctx.path === LOGIN_PATH) {
      // Only a path of this provider, so that the page is no open redirect.
      const target = String(ctx.query.next ?? '/');
      const next = target.startsWith('/') && !target.startsWith('//') ? target : '/';
      if (ctx.method === 'POST') {
        ctx.cookies.set(LOGIN_COOKIE, '1', { httpOnly: true, sameSite: 'lax' });
        ctx.status = 303;
        ctx.redirect(next);
        return;
      }
      ctx.type = 'html';
      ctx.body = page('Sign in', `<form method="post" action="${htmlEscape(ctx.originalUrl)}">`
        + '<input name="login" autofocus><input name="password" type="password">'
        + '<button type="submit">Sign in</button></form>');
      return;
    }
    if (ctx.path === AUTHORIZE_PATH && !ctx.cookies.get(LOGIN_COOKIE)) {
      ctx.redirect(`${LOGIN_PATH}?next=${encodeURIComponent(ctx.originalUrl)}`);
      return;
    }
    await next();
  };
}

// ---------------------------------------------------------------- start

const server = http.createServer();
server.listen(requestedPort, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, configuration());
  // RFC 8693 allows several resource and audience values; tokenExchange refuses them itself.
  const repeatable = ['resource', 'audience'];
  provider.registerGrantType(TOKEN_EXCHANGE, tokenExchange, TOKEN_EXCHANGE_PARAMS, repeatable);
  provider.on('access_token.issued', rememberGrant);
  provider.use(admin(provider));
  if (loginFirst) provider.use(loginPage());
  provider.use(secondFactor(provider));
  provider.use(counters());
  provider.use(slowTokenAnswers());
  provider.use(refreshEcho());
  provider.use(deviceKnobs());
  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});
server.on('error', (err) => {
  console.error(`cannot listen on ${HOST}:${requestedPort}: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  if (stateFile) {
    fs.writeFileSync(stateFile, JSON.stringify({
      jwks,
      cookieKeys,
      store: [...store],
      knobs: [...knobs],
      stats: [...stats],
    }));
  }
  server.close(() => process.exit(0));
  server.closeAllConnections();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
