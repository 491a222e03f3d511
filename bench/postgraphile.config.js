// PostGraphile v5 for `make bench`: the Amber preset over the bench world's `public` schema,
// on loopback only. Copied next to the installed packages (bench/.peers/) and run there by
// Node 22; PostGraphile itself is installed from npm at run time, never committed.
const { makePgService } = require("postgraphile/adaptors/pg");
const { PostGraphileAmberPreset } = require("postgraphile/presets/amber");

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
  grafast: { explain: false },
};
