-- AlterTable
ALTER TABLE "overlay_network" ADD COLUMN     "revision" INTEGER NOT NULL DEFAULT 0;
