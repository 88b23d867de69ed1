-- CreateTable
CREATE TABLE "overlay_network" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "vni" INTEGER NOT NULL,
    "subnet" TEXT NOT NULL,
    "gateway" TEXT NOT NULL,
    "internal" BOOLEAN NOT NULL DEFAULT false,
    "attachable" BOOLEAN NOT NULL DEFAULT false,
    "encrypted" BOOLEAN NOT NULL DEFAULT false,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "overlay_network_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "overlay_endpoint" (
    "id" TEXT NOT NULL,
    "networkId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "aliases" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "ip" TEXT NOT NULL,
    "mac" TEXT NOT NULL,
    "vtep" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "overlay_endpoint_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "overlay_network_vni_key" ON "overlay_network"("vni");

-- CreateIndex
CREATE UNIQUE INDEX "overlay_network_teamId_name_key" ON "overlay_network"("teamId", "name");

-- CreateIndex
CREATE INDEX "overlay_endpoint_hostId_idx" ON "overlay_endpoint"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "overlay_endpoint_networkId_ip_key" ON "overlay_endpoint"("networkId", "ip");

-- CreateIndex
CREATE UNIQUE INDEX "overlay_endpoint_networkId_containerId_key" ON "overlay_endpoint"("networkId", "containerId");

-- AddForeignKey
ALTER TABLE "overlay_network" ADD CONSTRAINT "overlay_network_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overlay_endpoint" ADD CONSTRAINT "overlay_endpoint_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "overlay_network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overlay_endpoint" ADD CONSTRAINT "overlay_endpoint_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
