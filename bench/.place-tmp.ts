import { openTemplateDatabase } from "../scripts/database.ts";
import { servicesBench } from "./services.ts";
const template = await openTemplateDatabase("berth_bench_template");
process.env.BERTH_TEST_PG_ADMIN = template.adminUrl;
process.env.BERTH_TEST_TEMPLATE = "berth_bench_template";
try {
  for (let i = 0; i < Number(process.env.N ?? 1); i++) {
    const s = await servicesBench({ hosts: 1000, replicas: 3000, healHosts: 10, healCut: 1 });
    console.log(JSON.stringify({ first: [s.createCallMs, s.placementP50Ms, s.allVisibleMs], next: [s.nextPlacementP50Ms, s.nextAllVisibleMs] }));
  }
} finally { await template.close(); }
process.exit(0);
