import { z } from "zod";

/*
 * What a container asks for on one network, in the Docker Engine API's EndpointSettings shape: a
 * create body's NetworkingConfig.EndpointsConfig entries and `network connect`'s EndpointConfig.
 * Only the shape and bounds are checked here; what a network can honour (an IPv6 address needs an
 * IPv6 network, link-local IPs must be link-local) is the agent's network layer's to say.
 */

const Address = z.string().max(64);

export const EndpointConfigSchema = z.object({
  IPAMConfig: z
    .object({
      IPv4Address: Address.optional(),
      IPv6Address: Address.optional(),
      /** Extra addresses on the interface: 169.254.0.0/16 or fe80::/10. */
      LinkLocalIPs: z.array(Address).max(16).nullable().optional(),
    })
    .nullable()
    .optional(),
  Aliases: z
    .array(
      z
        .string()
        .max(256)
        .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "network aliases are DNS names"),
    )
    .max(64)
    .nullable()
    .optional(),
  /** `network connect --link name:alias`. */
  Links: z.array(z.string().max(512)).max(64).nullable().optional(),
  /** The interface's MAC address (`docker run --mac-address`, `network connect` with one). */
  MacAddress: z.string().max(64).optional(),
  /** Driver options of the endpoint; the bridge driver gives them no meaning (kept and shown, as dockerd). */
  DriverOpts: z.record(z.string().max(1024), z.string().max(4096)).nullable().optional(),
});
export type EndpointConfig = z.infer<typeof EndpointConfigSchema>;
