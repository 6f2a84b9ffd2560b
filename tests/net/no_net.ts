// Run without --allow-net by tests/net_test.ts: listening must be refused.
import { listen } from "../../mod.ts";

try {
  listen({ hostname: "127.0.0.1", port: 0 });
  console.log("listened");
} catch (e) {
  console.log((e as { code?: string }).code);
}
