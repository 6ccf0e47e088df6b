// A real OpenID Connect provider for tests/test_sso.py: panva's certified oidc-provider.
//
//   node tests/oidc/provider.js CONFIG.json
//
// CONFIG: {"issuer": "http://127.0.0.1:PORT", "port": PORT,
//          "client": {"client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris"},
//          "accounts": {"SUB": {"email", "email_verified", "amr": ["pwd", "mfa"]}},
//          "email_in_id_token": true}
//
// The login step: the authorisation request's `login_hint` names the account (its `sub`), or,
// without one, a small form asks for it (the browser tests type it); the account signs in
// with its own `amr`. Consent is granted for the scopes asked. Prints "READY" once listening.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";

import Provider from "oidc-provider";

const conf = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = conf.accounts;
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: "jwk" }), kid: "test-1", alg: "RS256", use: "sig" };

const provider = new Provider(conf.issuer, {
  clients: [{
    ...conf.client,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [signing] },
  cookies: { keys: ["rapport-test-provider-cookie-key"] },
  pkce: { required: () => true },
  // `amr` is issued only when a granted scope lists it.
  claims: { openid: ["sub", "amr"], email: ["email", "email_verified"], profile: ["name"] },
  // Email claims in the ID token itself, or (false) only at the UserInfo endpoint, as some
  // providers do; Rapport reads them from either.
  conformIdTokenClaims: !conf.email_in_id_token,
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: account.email_verified,
                 name: account.name || sub };
      },
    };
  },
});

const LOGIN_FORM = (uid) => `<!doctype html><html lang="en"><head><title>Test ID</title></head>
<body><main><h1>Test ID</h1><form method="post" action="/interaction/${uid}">
<label for="sub">Account</label> <input id="sub" name="sub" autocomplete="off">
<button type="submit">Continue</button></form></main></body></html>`;

async function posted(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === "login") {
    const sub = req.method === "POST" ? (await posted(req)).get("sub") : details.params.login_hint;
    if (sub === undefined) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(LOGIN_FORM(details.uid));
      return;
    }
    if (!accounts[sub]) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`no test account ${sub}`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: sub, amr: accounts[sub].amr } },
                                       { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId: details.session.accountId,
                                     clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } },
                                     { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith("/interaction/")) {
    interaction(req, res).catch((err) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    });
    return;
  }
  callback(req, res);
});
server.listen(conf.port, "127.0.0.1", () => console.log("READY"));
