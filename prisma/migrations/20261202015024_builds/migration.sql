-- CreateTable
CREATE TABLE "build" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "hostId" TEXT,
    "hostName" TEXT NOT NULL,
    "createdById" TEXT,
    "createdByName" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "sourceKind" TEXT NOT NULL,
    "gitUrl" TEXT,
    "gitRef" TEXT,
    "gitPath" TEXT,
    "gitCommit" TEXT,
    "gitUsername" TEXT,
    "gitPasswordSealed" TEXT,
    "dockerfile" TEXT NOT NULL DEFAULT 'Dockerfile',
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "buildArgs" JSONB NOT NULL DEFAULT '{}',
    "target" TEXT,
    "noCache" BOOLEAN NOT NULL DEFAULT false,
    "push" BOOLEAN NOT NULL DEFAULT false,
    "imageId" TEXT,
    "error" TEXT,
    "logBytes" INTEGER NOT NULL DEFAULT 0,
    "logDropped" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "build_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "build_log_chunk" (
    "buildId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "text" TEXT NOT NULL,

    CONSTRAINT "build_log_chunk_pkey" PRIMARY KEY ("buildId","seq")
);

-- CreateIndex
CREATE INDEX "build_teamId_createdAt_idx" ON "build"("teamId", "createdAt");

-- AddForeignKey
ALTER TABLE "build" ADD CONSTRAINT "build_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "build_log_chunk" ADD CONSTRAINT "build_log_chunk_buildId_fkey" FOREIGN KEY ("buildId") REFERENCES "build"("id") ON DELETE CASCADE ON UPDATE CASCADE;
