-- CreateTable
CREATE TABLE "stat_sample" (
    "id" BIGSERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "cpuPercent" DOUBLE PRECISION NOT NULL,
    "memBytes" BIGINT NOT NULL,
    "memLimit" BIGINT NOT NULL,
    "rxPerSec" DOUBLE PRECISION NOT NULL,
    "txPerSec" DOUBLE PRECISION NOT NULL,
    "readPerSec" DOUBLE PRECISION NOT NULL,
    "writePerSec" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "stat_sample_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "stat_sample_hostId_containerId_at_idx" ON "stat_sample"("hostId", "containerId", "at");

-- CreateIndex
CREATE INDEX "stat_sample_at_idx" ON "stat_sample"("at");

-- AddForeignKey
ALTER TABLE "stat_sample" ADD CONSTRAINT "stat_sample_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
