// PostGraphile v5 for `make bench`: the Amber preset over the bench world's `public` schema,
// on loopback only. Copied next to the installed packages (bench/.peers/) and run there by
// Node 22; PostGraphile itself is installed from npm at run time, never committed.
const crypto = require("node:crypto");
const { makePgService } = require("postgraphile/adaptors/pg");
const { PostGraphileAmberPreset } = require("postgraphile/presets/amber");

// The bearer token's claims when its HS256 signature (JWT_SECRET) holds and it has not
// expired; null otherwise. The bench mints PostGraphile's tokens with the organisation as a
// claim (bench/world.py), as a PostGraphile deployment would.
function verifiedClaims(authorization) {
  const [header, payload, signature] = (authorization || "").replace(/^Bearer /, "").split(".");
  if (!signature) return null;
  const expected = crypto
    .createHmac("sha256", process.env.JWT_SECRET)
    .update(`${header}.${payload}`)
    .digest("base64url");
  if (signature.length !== expected.length) return null;
  if (!crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) return null;
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  return claims.exp * 1000 > Date.now() ? claims : null;
}

/** @type {GraphileConfig.Preset} */
module.exports = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.BENCH_PG_URL,
      schemas: ["public"],
      // As many connections as the API's pool (DB_POOL_SIZE 10).
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_PORT),
    graphqlPath: "/graphql",
    graphiql: false,
  },
  grafast: {
    explain: false,
    // Row-level security as partner-leads runs it (migration 0007): each request's transaction
    // names its tenant. No token, or a bad one: nobody, so only public rows.
    context(requestContext) {
      const claims = verifiedClaims(requestContext.http?.getHeader("authorization"));
      return {
        pgSettings: {
          "app.organisation_id": claims?.org ?? "",
          "app.user_id": claims?.sub ?? "",
        },
      };
    },
  },
};
