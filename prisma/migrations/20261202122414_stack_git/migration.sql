-- AlterTable
ALTER TABLE "stack" ADD COLUMN     "gitCommit" TEXT,
ADD COLUMN     "gitDigest" TEXT,
ADD COLUMN     "gitError" TEXT,
ADD COLUMN     "gitPasswordSealed" TEXT,
ADD COLUMN     "gitPath" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "gitRef" TEXT,
ADD COLUMN     "gitUrl" TEXT,
ADD COLUMN     "gitUsername" TEXT,
ADD COLUMN     "pollSeconds" INTEGER NOT NULL DEFAULT 300,
ADD COLUMN     "polledAt" TIMESTAMP(3),
ADD COLUMN     "webhookSecretSealed" TEXT;

-- AlterTable
ALTER TABLE "stack_deploy" ADD COLUMN     "commit" TEXT;
