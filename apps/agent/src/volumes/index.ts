/** The volume layer's front door. */
export { ANONYMOUS_LABEL, VolumeService } from "./service.ts";
