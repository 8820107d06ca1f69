// The text the docker compose executor generates (executors.md section 1):
// the compose manifest, the compose command line, docker login commands and
// the SSH jump point. Pure functions, so they are unit-tested byte for byte.
#pragma once

#include "common/job_request.hpp"
#include "common/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sa {

// A `--files HOSTPATH:DEST` entry that exists on the host.
struct HostFile {
    std::string host_path, destination;
};

// Parses `HOSTPATH:DEST`; the error names the entry.
Result<HostFile> parse_host_file(const std::string& entry);

// A YAML double-quoted scalar: any byte sequence survives a round trip.
// (The original pasted values raw, so a `:` or `#` in an env value broke the
// manifest or silently changed it.)
std::string yaml_quote(std::string_view s);

// yaml_quote for a value compose reads: `$` doubled, so that compose does not
// substitute the agent's environment into it (`pa$word` stays `pa$word`).
std::string compose_quote(std::string_view s);

// The compose manifest. Same keys, order and layout as the original, every
// value quoted. `kvm` adds the /dev/kvm device to every service.
std::string compose_manifest(const Compose& c, const std::vector<HostFile>& volumes, bool kvm);

// The version from `docker compose version` ("Docker Compose version v2.20.0")
// or from `docker-compose --version` ("docker-compose version 1.29.2, build x");
// empty when the text is neither.
std::string compose_version_from_plugin(std::string_view out);
std::string compose_version_from_standalone(std::string_view out);

// The program and leading arguments for a compose version: v-prefixed
// versions are the `docker compose` plugin, others `docker-compose`.
std::vector<std::string> compose_program(std::string_view version);

// The docker login command for one image pull credential entry, from its
// DOCKER_CREDENTIAL_TYPE; aws_cli_version and aws_account are only used for
// AWS_ECR (the account found by `aws sts` when the entry has none).
Result<std::string> docker_login_command(const std::vector<EnvVar>& env,
                                         std::string_view aws_cli_version = "",
                                         std::string_view aws_account = "");
// The first line the job log shows for an entry ("Setting up credentials for X\n").
std::string credential_banner(std::string_view type);
// The entry's DOCKER_CREDENTIAL_TYPE, or an error as the original words it.
Result<std::string> credential_type(const std::vector<EnvVar>& env);

// /tmp/ssh_jump_point for compose jobs: waits for the main container, then
// runs bash (or the given command) inside it.
std::string compose_jump_point(std::string_view container);

// A docker container or compose project name made from arbitrary text:
// [a-z0-9_-], starting with a letter or digit (compose v2 refuses a `.` in a
// project name).
std::string docker_safe_name(std::string_view s);

}  // namespace sa
