// The API's TypeScript client: openapi-fetch typed by the generated `schema.d.ts` (`make clients`),
// and a token session that signs in with the password grant and refreshes before expiry.
// Hand-written; only schema.d.ts is generated.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

export type { components, paths };
export type TokenGrant = components["schemas"]["TokenGrant"];
type TokenForm = NonNullable<paths["/v1/auth/token"]["post"]["requestBody"]>["content"]["application/x-www-form-urlencoded"];

/** Refresh this long (ms) before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

/** The token endpoint refused: `error` is RFC 6749's code (`invalid_grant`: wrong credentials). */
export class SignInFailed extends Error {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string) {
    super(`${status} ${error}`);
    this.status = status;
    this.error = error;
  }
}

/** Tokens from the API's own token endpoint: `accessToken()` signs in, or refreshes, when needed. */
export class TokenSession {
  private grant?: TokenGrant;
  private expiresAt = 0;
  private readonly tokens: Client<paths>;
  private readonly username: string;
  private readonly password: string;

  // No parameter properties: Node.js runs this file as it is (type stripping), no build needed.
  constructor(baseUrl: string, username: string, password: string) {
    this.tokens = createClient<paths>({ baseUrl });
    this.username = username;
    this.password = password;
  }

  async accessToken(): Promise<string> {
    if (this.grant === undefined || Date.now() >= this.expiresAt - REFRESH_MARGIN_MS) {
      const refreshToken = this.grant?.refresh_token;
      this.grant = undefined;
      if (refreshToken) {
        await this.request({ grant_type: "refresh_token", refresh_token: refreshToken }).catch(() => undefined);
      }
      if (this.grant === undefined) {
        await this.request({ grant_type: "password", username: this.username, password: this.password });
      }
    }
    return (this.grant as TokenGrant | undefined)?.access_token ?? "";
  }

  private async request(form: TokenForm): Promise<void> {
    const { data, error, response } = await this.tokens.POST("/v1/auth/token", {
      body: form,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      bodySerializer: (body) => new URLSearchParams(Object.entries(body).filter(([, v]) => v != null) as [string, string][]),
    });
    if (data === undefined) {
      throw new SignInFailed(response.status, error && "error" in error ? String(error.error) : "");
    }
    const refreshToken = data.refresh_token ?? this.grant?.refresh_token;
    this.grant = { ...data, refresh_token: refreshToken };
    this.expiresAt = Date.now() + data.expires_in * 1000;
  }
}

/** A typed client for `baseUrl`; with a session, every request carries its bearer token. */
export function createApiClient(baseUrl: string, session?: TokenSession): Client<paths> {
  const client = createClient<paths>({ baseUrl });
  if (session !== undefined) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${await session.accessToken()}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
