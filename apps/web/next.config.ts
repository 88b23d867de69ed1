import type { NextConfig } from "next";

const config: NextConfig = {
  // `npm run typecheck` checks the whole monorepo once; Next need not repeat it.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
