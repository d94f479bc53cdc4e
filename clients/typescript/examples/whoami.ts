// What a consumer writes (type-checked by `make test`): sign in, call a protected route, read its typed answer.
import { createApiClient, TokenSession } from "../src/client.ts";

export async function whoami(baseUrl: string): Promise<string> {
  const session = new TokenSession(baseUrl, "user@example.com", "user-password");
  const api = createApiClient(baseUrl, session);
  const { data: health } = await api.GET("/v1/manage/hc");
  const { data: routes, error } = await api.GET("/v1/admin/endpoints");
  if (error) return `refused: ${"message" in error ? error.message : error.code}`;
  return `${health?.status}: ${routes.map((route) => `${route.method} ${route.path}`).join(", ")}`;
}
