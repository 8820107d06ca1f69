#pragma once
// Name-service lookups (users, groups, host names) in the portable build.

namespace sa {

// The release tarball's programs are fully static. glibc there has the `files`
// and `dns` sources built in, but would dlopen the host's module for any other
// source in /etc/nsswitch.conf (`systemd`, `sss`, `ldap`), and that module
// belongs to another glibc. This pins the lookups to the built-in sources, as
// the original's static binary, which reads /etc/passwd itself, does. A no-op
// in the packaged (dynamically linked) programs.
void pin_builtin_name_services();

}  // namespace sa
