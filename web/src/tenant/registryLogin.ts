export type RegistryField = "registry" | "username" | "password";

/** The form's own checks, the server's rules in short; the server has the last word. */
export function checkRegistryLogin(
  values: Record<RegistryField, string>,
): Partial<Record<RegistryField, string>> {
  const errors: Partial<Record<RegistryField, string>> = {};
  const registry = values.registry.trim();
  if (!registry) errors.registry = "Enter the registry host, e.g. ghcr.io";
  else if (registry.includes("/"))
    errors.registry = "Only the host (and port), without scheme or path, e.g. ghcr.io";
  if (!values.username) errors.username = "Enter the user name";
  else if (values.username.includes(":")) errors.username = "The user name cannot contain ':'";
  if (!values.password) errors.password = "Enter the password or access token";
  return errors;
}
