-- AlterTable
ALTER TABLE "overlay_network" ADD COLUMN     "ingress" BOOLEAN NOT NULL DEFAULT false;
