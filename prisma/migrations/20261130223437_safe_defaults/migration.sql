-- AlterTable
ALTER TABLE "team" ADD COLUMN     "webhookAllowlist" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "api_token" ADD COLUMN     "createdByTokenId" TEXT;

-- CreateTable
CREATE TABLE "invitation" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'invite',
    "secretHash" TEXT NOT NULL,
    "hint" TEXT NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "usedByEmail" TEXT,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "invitation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "container_policy" (
    "teamId" TEXT NOT NULL,
    "allowPrivileged" BOOLEAN NOT NULL DEFAULT false,
    "allowHostNetwork" BOOLEAN NOT NULL DEFAULT false,
    "allowHostPid" BOOLEAN NOT NULL DEFAULT false,
    "allowHostIpc" BOOLEAN NOT NULL DEFAULT false,
    "allowHostUts" BOOLEAN NOT NULL DEFAULT false,
    "bindPrefixes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "allowedCapabilities" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "allowUnconfined" BOOLEAN NOT NULL DEFAULT false,
    "allowDevices" BOOLEAN NOT NULL DEFAULT false,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "updatedById" TEXT,

    CONSTRAINT "container_policy_pkey" PRIMARY KEY ("teamId")
);

-- CreateIndex
CREATE UNIQUE INDEX "invitation_secretHash_key" ON "invitation"("secretHash");

-- CreateIndex
CREATE INDEX "invitation_teamId_idx" ON "invitation"("teamId");

-- CreateIndex
CREATE INDEX "api_token_createdByTokenId_idx" ON "api_token"("createdByTokenId");

-- AddForeignKey
ALTER TABLE "invitation" ADD CONSTRAINT "invitation_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "container_policy" ADD CONSTRAINT "container_policy_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
