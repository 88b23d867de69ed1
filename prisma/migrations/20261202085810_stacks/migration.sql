-- CreateTable
CREATE TABLE "stack" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "target" TEXT NOT NULL DEFAULT 'fleet',
    "sourceKind" TEXT NOT NULL DEFAULT 'inline',
    "files" JSONB NOT NULL DEFAULT '{}',
    "composeFiles" TEXT[] DEFAULT ARRAY['compose.yaml']::TEXT[],
    "envSealed" TEXT NOT NULL,
    "profiles" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "origin" TEXT NOT NULL DEFAULT 'berth',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "stack_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stack_deploy" (
    "id" SERIAL NOT NULL,
    "stackId" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "files" JSONB NOT NULL,
    "composeFiles" TEXT[],
    "envSealed" TEXT NOT NULL,
    "profiles" TEXT[],
    "reason" TEXT NOT NULL DEFAULT 'deploy',
    "rollbackOf" INTEGER,
    "createdById" TEXT,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "outcome" TEXT NOT NULL DEFAULT 'running',
    "summary" JSONB NOT NULL DEFAULT '{}',
    "error" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "stack_deploy_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "stack_teamId_name_key" ON "stack"("teamId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "stack_deploy_stackId_number_key" ON "stack_deploy"("stackId", "number");

-- AddForeignKey
ALTER TABLE "stack" ADD CONSTRAINT "stack_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stack_deploy" ADD CONSTRAINT "stack_deploy_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "stack"("id") ON DELETE CASCADE ON UPDATE CASCADE;
