-- CreateTable
CREATE TABLE "inventory_item" (
    "hostId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "itemId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "image" TEXT NOT NULL DEFAULT '',
    "state" TEXT NOT NULL DEFAULT '',
    "created" TIMESTAMP(3) NOT NULL,
    "size" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "inventory_item_pkey" PRIMARY KEY ("hostId","kind","itemId")
);

-- CreateIndex
CREATE INDEX "inventory_item_kind_name_idx" ON "inventory_item"("kind", "name");

-- CreateIndex
CREATE INDEX "inventory_item_kind_created_idx" ON "inventory_item"("kind", "created");

-- AddForeignKey
ALTER TABLE "inventory_item" ADD CONSTRAINT "inventory_item_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
