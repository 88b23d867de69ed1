-- AlterTable
ALTER TABLE "host" ADD COLUMN     "linkedReplicaId" TEXT;

-- CreateTable
CREATE TABLE "control_plane_replica" (
    "id" TEXT NOT NULL,
    "internalUrl" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "tlsFingerprint" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "control_plane_replica_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "control_plane_replica_heartbeatAt_idx" ON "control_plane_replica"("heartbeatAt");
