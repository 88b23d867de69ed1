import { type ContainerPolicyRules, enforceContainerPolicy } from "../container-policy.ts";
import type { ServiceSpec } from "./spec.ts";
import { taskContainerConfig } from "./task-container.ts";

/**
 * A check of service specs against a team's container policy (null: a caller it does not bind):
 * a spec whose tasks the policy would refuse as containers throws. Services, stacks, and the git
 * poller's deploys all check specs through it.
 */
export function specPolicyCheck(policy: ContainerPolicyRules | null): (spec: ServiceSpec) => Promise<void> {
  return async (spec) => {
    if (!policy) return;
    enforceContainerPolicy(
      policy,
      taskContainerConfig(spec, { serviceId: "-", serviceName: spec.name, taskId: "-", slot: 1, hostId: "-" }),
    );
  };
}
