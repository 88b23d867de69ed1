-- CreateTable
CREATE TABLE "overlay_host_error" (
    "networkId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "error" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "overlay_host_error_pkey" PRIMARY KEY ("networkId","hostId")
);

-- AddForeignKey
ALTER TABLE "overlay_host_error" ADD CONSTRAINT "overlay_host_error_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "overlay_network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overlay_host_error" ADD CONSTRAINT "overlay_host_error_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
