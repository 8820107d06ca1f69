#include "worker/compose_file.hpp"

#include "common/json.hpp"

#include <cstdio>

namespace sa {

Result<HostFile> parse_host_file(const std::string& entry) {
    size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size())
        return err("--files: '" + entry + "' is not HOSTPATH:DESTINATION");
    return HostFile{entry.substr(0, colon), entry.substr(colon + 1)};
}

std::string yaml_quote(std::string_view s) {
    // JSON's string escapes are all YAML double-quoted escapes too; JSON
    // leaves DEL and the C1 controls (U+0080..U+009F) as they are, and YAML
    // does not accept them unescaped.
    std::string json;
    json_append_string(json, s);
    std::string out;
    out.reserve(json.size());
    for (size_t i = 0; i < json.size(); i++) {
        unsigned char c = static_cast<unsigned char>(json[i]);
        unsigned char next = i + 1 < json.size() ? static_cast<unsigned char>(json[i + 1]) : 0;
        char esc[8];
        if (c == 0x7f) {
            out += "\\x7f";
        } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
            std::snprintf(esc, sizeof esc, "\\x%02x", next);
            out += esc;
            i++;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string compose_quote(std::string_view s) {
    std::string escaped;
    for (char c : s) {
        if (c == '$') escaped += '$';  // compose reads `$$` as a literal `$`
        escaped += c;
    }
    return yaml_quote(escaped);
}

namespace {

void service(std::string& y, const Container& c, bool kvm) {
    y += "  " + yaml_quote(c.name) + ":\n";
    y += "    image: " + compose_quote(c.image) + "\n";
    if (kvm) y += "    devices:\n      - \"/dev/kvm:/dev/kvm\"\n";
    if (!c.command.empty()) y += "    command: " + compose_quote(c.command) + "\n";
    if (!c.user.empty()) y += "    user: " + compose_quote(c.user) + "\n";
    if (!c.entrypoint.empty()) y += "    entrypoint: " + compose_quote(c.entrypoint) + "\n";
    if (!c.env_vars.empty()) {
        y += "    environment:\n";
        for (const auto& e : c.env_vars) y += "      - " + compose_quote(e.name + "=" + e.value) + "\n";
    }
}

}  // namespace

std::string compose_manifest(const Compose& c, const std::vector<HostFile>& volumes, bool kvm) {
    std::string y = "version: \"2.0\"\n\nservices:\n";
    for (size_t i = 0; i < c.containers.size(); i++) {
        service(y, c.containers[i], kvm);
        if (i == 0 && c.containers.size() > 1) {
            y += "    links:\n";
            for (size_t j = 1; j < c.containers.size(); j++)
                y += "      - " + compose_quote(c.containers[j].name) + "\n";
        }
        if (i == 0 && !volumes.empty()) {
            y += "    volumes:\n";
            for (const auto& v : volumes)
                y += "      - " + compose_quote(v.host_path + ":" + v.destination) + "\n";
        }
        y += "\n";
    }
    return y;
}

static std::string_view trim_newlines(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string compose_version_from_plugin(std::string_view out) {
    out = trim_newlines(out);
    constexpr std::string_view kPrefix = "Docker Compose version ";
    if (out.substr(0, kPrefix.size()) != kPrefix || out.find('\n') != std::string_view::npos)
        return "";
    return std::string(out.substr(kPrefix.size()));
}

std::string compose_version_from_standalone(std::string_view out) {
    out = trim_newlines(out);
    constexpr std::string_view kPrefix = "docker-compose version ";
    if (out.substr(0, kPrefix.size()) != kPrefix || out.find('\n') != std::string_view::npos)
        return "";
    out.remove_prefix(kPrefix.size());
    size_t comma = out.rfind(',');
    if (comma == std::string_view::npos || comma == 0) return "";
    return std::string(out.substr(0, comma));
}

std::vector<std::string> compose_program(std::string_view version) {
    if (!version.empty() && version[0] == 'v') return {"docker", "compose"};
    return {"docker-compose"};
}

Result<std::string> credential_type(const std::vector<EnvVar>& env) {
    for (const auto& e : env)
        if (e.name == "DOCKER_CREDENTIAL_TYPE") {
            if (e.value == "DockerHub" || e.value == "GenericDocker" || e.value == "AWS_ECR" ||
                e.value == "GCR")
                return e.value;
            return err("unknown DOCKER_CREDENTIAL_TYPE: '" + e.value + "'");
        }
    return err("DOCKER_CREDENTIAL_TYPE not set");
}

std::string credential_banner(std::string_view type) {
    if (type == "DockerHub") return "Setting up credentials for DockerHub\n";
    if (type == "GenericDocker") return "Setting up credentials for Docker\n";
    if (type == "AWS_ECR") return "Setting up credentials for ECR\n";
    return "Setting up credentials for GCR\n";
}

static const EnvVar* find_var(const std::vector<EnvVar>& env, std::string_view name) {
    for (const auto& e : env)
        if (e.name == name) return &e;
    return nullptr;
}

Result<std::string> docker_login_command(const std::vector<EnvVar>& env,
                                         std::string_view aws_cli_version,
                                         std::string_view aws_account) {
    auto type = credential_type(env);
    if (!type) return type.error();
    if (*type == "DockerHub")
        return std::string("echo $DOCKERHUB_PASSWORD | docker login --username $DOCKERHUB_USERNAME --password-stdin");
    if (*type == "GenericDocker")
        return std::string("docker login -u \"$DOCKER_USERNAME\" -p \"$DOCKER_PASSWORD\" $DOCKER_URL");
    if (*type == "GCR")
        return std::string("cat /tmp/gcr/keyfile.json | docker login -u _json_key --password-stdin https://$GCR_HOSTNAME");
    // AWS_ECR: the CLI's major version decides between get-login-password (v2)
    // and the old get-login (v1).
    unsigned major = 0, minor = 0, patch = 0;
    std::string v(aws_cli_version);
    if (std::sscanf(v.c_str(), "%u.%u.%u", &major, &minor, &patch) != 3)
        return err("'" + v + "' is not a version of the aws CLI");
    const EnvVar* account = find_var(env, "AWS_ACCOUNT_ID");
    if (major >= 2) {
        std::string id = account ? account->value : std::string(aws_account);
        return "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS "
               "--password-stdin " + id + ".dkr.ecr.$AWS_REGION.amazonaws.com";
    }
    if (!account) return std::string("$(aws ecr get-login --no-include-email --region $AWS_REGION)");
    return "$(aws ecr get-login --no-include-email --region $AWS_REGION --registry-ids " +
           account->value + ")";
}

std::string compose_jump_point(std::string_view container) {
    std::string c(container);
    return "#!/bin/bash\n\ncd /tmp\n\necho -n \"Waiting for the container to start up\"\n\n"
           "while true; do\n  docker exec -i " + c + " true 2>/dev/null\n\n"
           "  if [ $? == 0 ]; then\n    echo \"\"\n\n    break\n  else\n    sleep 3\n"
           "    echo -n \".\"\n  fi\ndone\n\nif [ $# -eq 0 ]; then\n"
           "  docker exec -ti " + c + " bash --login\nelse\n  docker exec -i " + c +
           " \"$@\"\nfi";
}

std::string docker_safe_name(std::string_view s) {
    std::string out;
    for (char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            out += c;
        else if (c >= 'A' && c <= 'Z')
            out += static_cast<char>(c - 'A' + 'a');
        else
            out += '-';
    }
    if (out.empty() || out[0] == '-' || out[0] == '_') out = "j" + out;
    return out;
}

}  // namespace sa
