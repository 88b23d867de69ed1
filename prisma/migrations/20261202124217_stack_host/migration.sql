-- AlterTable
ALTER TABLE "stack" ADD COLUMN     "hostId" TEXT;
