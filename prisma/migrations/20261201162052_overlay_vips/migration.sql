-- AlterTable
ALTER TABLE "overlay_endpoint" ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'container',
ADD COLUMN     "serviceId" TEXT,
ADD COLUMN     "serving" BOOLEAN NOT NULL DEFAULT true;

-- CreateTable
CREATE TABLE "overlay_vip" (
    "networkId" TEXT NOT NULL,
    "serviceId" TEXT NOT NULL,
    "ip" TEXT NOT NULL,

    CONSTRAINT "overlay_vip_pkey" PRIMARY KEY ("networkId","serviceId")
);

-- CreateIndex
CREATE UNIQUE INDEX "overlay_vip_networkId_ip_key" ON "overlay_vip"("networkId", "ip");

-- AddForeignKey
ALTER TABLE "overlay_vip" ADD CONSTRAINT "overlay_vip_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "overlay_network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overlay_vip" ADD CONSTRAINT "overlay_vip_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "service"("id") ON DELETE CASCADE ON UPDATE CASCADE;
