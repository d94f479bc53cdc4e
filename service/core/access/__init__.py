"""Who is calling, and may they: the request path of every protected route.

- `declaration`: `Authenticated(scopes=..., groups=...)`, a route's access declared once in
  its signature, and `describe_routes`, which reads those declarations back (admin listing,
  the CDK construct's gateway routes);
- `caller`: the `Principal` a route receives, from the authorizer's verdict;
- `claims`: what the HTTP API JWT authorizer hands Lambda, and how its claims are flattened;
- `local_authorizer` and `jwks` (RUNTIME=LOCAL only, never imported in Lambda): the app's
  stand-in for the JWT authorizer and the issuer's key set it verifies with.
"""
