-- CreateTable
CREATE TABLE "service_sample" (
    "serviceId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "running" INTEGER NOT NULL,
    "desired" INTEGER NOT NULL,
    "restarts" INTEGER NOT NULL,

    CONSTRAINT "service_sample_pkey" PRIMARY KEY ("serviceId","at")
);

-- CreateIndex
CREATE INDEX "service_sample_at_idx" ON "service_sample"("at");

-- AddForeignKey
ALTER TABLE "service_sample" ADD CONSTRAINT "service_sample_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "service"("id") ON DELETE CASCADE ON UPDATE CASCADE;
