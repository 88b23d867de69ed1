-- CreateTable
CREATE TABLE "mesh_peer" (
    "hostId" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mesh_peer_pkey" PRIMARY KEY ("hostId")
);

-- CreateIndex
CREATE UNIQUE INDEX "mesh_peer_publicKey_key" ON "mesh_peer"("publicKey");

-- CreateIndex
CREATE UNIQUE INDEX "mesh_peer_address_key" ON "mesh_peer"("address");

-- AddForeignKey
ALTER TABLE "mesh_peer" ADD CONSTRAINT "mesh_peer_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
