// Worker entry when the agent runs from its TypeScript sources (tests, benchmarks).
import { serveLogKeeping } from "./keeper-worker.ts";

serveLogKeeping();
