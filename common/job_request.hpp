// The job request Semaphore sends (protocol.md section 3), parsed from JSON
// (the API, serve mode) or YAML (`semaphore-agent run`). Parsing validates
// and decodes: env var values and file contents come out as raw bytes.
#pragma once

#include "common/json.hpp"
#include "common/result.hpp"

#include <jansson.h>

#include <string>
#include <string_view>
#include <vector>

namespace sa {

struct EnvVar {
    std::string name;
    std::string value;  // decoded from base64

    bool operator==(const EnvVar&) const = default;
};

struct JobFile {
    std::string path;     // as given (absolute, ~/..., or relative to $HOME)
    std::string content;  // decoded from base64
    std::string raw_content;  // the base64 text as given, kept only when !content_ok
    std::string mode;     // octal string as given, e.g. "0644" (a YAML integer 644 becomes
                          // "644"); validated by the worker
    bool content_ok = true;  // false when the base64 did not decode: the
                             // Injecting Files step fails, the parse does not

    bool operator==(const JobFile&) const = default;
};

struct Command {
    std::string directive;
    std::string alias;  // empty when none

    bool operator==(const Command&) const = default;
};

struct Container {
    std::string name, image, command, entrypoint, user;
    std::vector<EnvVar> env_vars;

    bool operator==(const Container&) const = default;
};

struct ImagePullCredentials {
    std::vector<EnvVar> env_vars;
    std::vector<JobFile> files;

    bool operator==(const ImagePullCredentials&) const = default;
};

struct Compose {
    std::vector<Container> containers;
    std::vector<ImagePullCredentials> image_pull_credentials;
    std::vector<Command> host_setup_commands;

    bool operator==(const Compose&) const = default;
};

struct Callbacks {
    std::string finished, teardown_finished, token;

    bool operator==(const Callbacks&) const = default;
};

struct Logger {
    std::string method = "pull";  // "pull" or "push"
    std::string url, token;
    long long max_size_in_bytes = 0;  // 0: no limit given

    bool operator==(const Logger&) const = default;
};

struct JobRequest {
    std::string job_id;
    std::string executor = "shell";  // "shell" or "dockercompose"
    Compose compose;
    std::vector<Command> commands;
    std::vector<Command> epilogue_always_commands;
    std::vector<Command> epilogue_on_pass_commands;
    std::vector<Command> epilogue_on_fail_commands;
    std::vector<EnvVar> env_vars;
    std::vector<JobFile> files;
    Callbacks callbacks;
    Logger logger;
    std::vector<std::string> ssh_public_keys;  // decoded from base64

    bool operator==(const JobRequest&) const = default;
};

// Errors name the field with its path, e.g. "env_vars[2].value: not valid base64".
Result<JobRequest> parse_job_request(const json_t* root);
Result<JobRequest> parse_job_request_json(std::string_view text);
// Only job_id and logger of a request that may be unusable otherwise: where
// the log of a job that cannot run should go, to say why.
Result<JobRequest> parse_log_target_json(std::string_view text);
Result<JobRequest> parse_log_target(const json_t* root);
// YAML is mapped to the same JSON shape first, so both share one validator;
// where a string is expected, numbers and booleans are taken as their text
// (YAML reads `job_id: 42`, `mode: 644`, `directive: true` as such).
Result<JobRequest> parse_job_request_yaml(std::string_view text);
// Picks JSON when the first non-blank character is '{', YAML otherwise.
Result<JobRequest> parse_job_request_any(std::string_view text);

// The protocol JSON of a parsed request (values base64 again), so the
// supervisor can hand a validated job to the worker: parse_job_request of it
// gives the same JobRequest back. A file with bad content keeps raw_content.
std::string job_request_to_json(const JobRequest& job);
// The same as a JSON value, to embed (the worker protocol's JOB frame).
JsonPtr job_request_json(const JobRequest& job);

}  // namespace sa
