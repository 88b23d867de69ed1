// Worker entry when the agent runs from its TypeScript sources (tests, benchmarks).
// The single-file bundle starts workers from itself instead (see cli.ts).
import { serveExtractJobs } from "./extract-worker.ts";

serveExtractJobs();
