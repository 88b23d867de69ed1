-- AlterTable
ALTER TABLE "host" ADD COLUMN     "eventSeq" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "eventStream" TEXT;

-- CreateTable
CREATE TABLE "host_event" (
    "id" BIGSERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "stream" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "actorId" TEXT NOT NULL,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "time" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "host_event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "host_event_receivedAt_idx" ON "host_event"("receivedAt");

-- CreateIndex
CREATE UNIQUE INDEX "host_event_hostId_stream_seq_key" ON "host_event"("hostId", "stream", "seq");
