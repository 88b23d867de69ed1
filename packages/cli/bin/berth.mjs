#!/usr/bin/env node
// Runs the CLI from its TypeScript sources (the workspace convention: packages export src).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
