import { after, before, describe } from "node:test";
import { openStore } from "../../src/store/index.js";
import { conformance } from "./conformance.js";
import { dropSchemas, freshSchema, pgAvailable, pgUrl } from "./pgHelper.js";

const available = await pgAvailable();
const schemas: string[] = [];

describe("postgres store", { skip: available ? false : "PostgreSQL unreachable (see the message above)" }, () => {
  before(() => {});
  after(() => dropSchemas(schemas));
  conformance({
    name: "postgres",
    open: () => {
      const s = freshSchema("conf");
      schemas.push(s);
      return openStore(pgUrl(s));
    },
  });
});
