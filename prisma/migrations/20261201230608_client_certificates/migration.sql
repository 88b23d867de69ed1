-- CreateTable
CREATE TABLE "client_cert_authority" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "certPem" TEXT NOT NULL,
    "keySealed" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "client_cert_authority_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "client_certificate" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "serial" TEXT NOT NULL,
    "notAfter" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "client_certificate_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "client_certificate_fingerprint_key" ON "client_certificate"("fingerprint");

-- CreateIndex
CREATE INDEX "client_certificate_userId_idx" ON "client_certificate"("userId");

-- AddForeignKey
ALTER TABLE "client_certificate" ADD CONSTRAINT "client_certificate_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;
