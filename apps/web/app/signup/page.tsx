import { Suspense } from "react";
import { AuthForm } from "../../src/components/auth-form";

export default function SignupPage() {
  return (
    <Suspense>
      <AuthForm mode="signup" />
    </Suspense>
  );
}
