-- CreateEnum
CREATE TYPE "HostAvailability" AS ENUM ('active', 'pause', 'drain');

-- AlterTable
ALTER TABLE "host" ADD COLUMN     "availability" "HostAvailability" NOT NULL DEFAULT 'active';

-- CreateTable
CREATE TABLE "service" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "previousVersion" INTEGER,
    "updateState" TEXT,
    "updateMessage" TEXT NOT NULL DEFAULT '',
    "updateStartedAt" TIMESTAMP(3),
    "updateEndedAt" TIMESTAMP(3),
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "service_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_version" (
    "serviceId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "specHash" TEXT NOT NULL,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_version_pkey" PRIMARY KEY ("serviceId","version")
);

-- CreateTable
CREATE TABLE "task" (
    "id" TEXT NOT NULL,
    "serviceId" TEXT NOT NULL,
    "slot" INTEGER NOT NULL,
    "hostId" TEXT,
    "version" INTEGER NOT NULL,
    "desiredState" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "message" TEXT NOT NULL DEFAULT '',
    "containerId" TEXT,
    "exitCode" INTEGER,
    "health" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "task_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "service_teamId_name_key" ON "service"("teamId", "name");

-- CreateIndex
CREATE INDEX "task_serviceId_slot_idx" ON "task"("serviceId", "slot");

-- CreateIndex
CREATE INDEX "task_hostId_desiredState_idx" ON "task"("hostId", "desiredState");

-- AddForeignKey
ALTER TABLE "service" ADD CONSTRAINT "service_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_version" ADD CONSTRAINT "service_version_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task" ADD CONSTRAINT "task_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task" ADD CONSTRAINT "task_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE SET NULL ON UPDATE CASCADE;
